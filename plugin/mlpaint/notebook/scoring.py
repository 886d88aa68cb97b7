"""Scoring and explaining one digit in the notebook's kernel, the way the REST explainer does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from mlpaint import images, registry, scoring
from mlpaint.registry import LoadedModel
from mlpaint.scoring import uncertainty

SIDE = 28


@dataclass(frozen=True)
class Reading:
    """What a model makes of one digit: its scores and the SHAP map of every digit."""

    pixels: np.ndarray  # (784,) uint8: the digit as given (normalised, 0 = paper)
    seen: np.ndarray  # (784,) uint8: what the model saw (deskewed when its spec says so)
    scores: np.ndarray  # (10,) raw margins
    probabilities: np.ndarray  # (10,) softmax of the scores
    explanations: np.ndarray  # (10, 784) SHAP value of each pixel toward each digit's score
    bias: np.ndarray  # (10,) so that bias[d] + explanations[d].sum() == scores[d]
    model: str  # "name vN"
    # (bags, 10) each bag's probabilities, and the model's verdict (as the REST scorer's output)
    bag_probabilities: np.ndarray | None = None
    is_digit: bool = True

    @property
    def prediction(self) -> int:
        """The digit with the highest score (the first of equals, as the REST scorer)."""
        return int(np.argsort(-self.scores, kind="stable")[0])

    @property
    def uncertainty(self) -> float:
        """See :func:`uncertainty`: from the bags' probabilities when the reading has them."""
        bags = self.bag_probabilities
        return uncertainty(self.probabilities if bags is None else bags)


def read_digit(loaded: LoadedModel, pixels: np.ndarray) -> Reading:
    """Score and explain (784,) or (28, 28) pixels 0..255 with ``loaded`` (the REST answer)."""
    given = np.asarray(pixels).reshape(-1).astype(np.uint8)
    output = scoring.answer(loaded, given, explain="all")
    return Reading(
        pixels=given,
        seen=output["pixels"],
        scores=output["scores"],
        probabilities=output["probabilities"],
        explanations=output["explanations"],
        bias=output["biases"],
        model=f"{loaded.name} v{loaded.version}",
        bag_probabilities=output["bag_probabilities"],
        is_digit=output["is_digit"],
    )


def read_drawing(loaded: LoadedModel, data_url: str) -> Reading:
    """Normalise a canvas snapshot as the REST scorer does, then score and explain it.

    Raises ``images.EmptyImageError`` for a blank canvas, ``images.ImageError`` for bad data.
    """
    return read_digit(loaded, images.image_to_pixels(images.decode_data_url(data_url)))


def to_view(reading: Reading, label: int | None = None) -> dict[str, Any]:
    """A reading as widget state: small lists as JSON, the maps as binary float32/uint8."""
    return {
        "prediction": reading.prediction,
        "label": reading.prediction if label is None else label,
        "probabilities": reading.probabilities.astype(float).tolist(),
        "scores": reading.scores.astype(float).tolist(),
        "bias": reading.bias.astype(float).tolist(),
        "uncertainty": reading.uncertainty,
        "is_digit": reading.is_digit,
        "model": reading.model,
        "pixels": reading.pixels.astype(np.uint8).tobytes(),
        "seen": reading.seen.astype(np.uint8).tobytes(),
        "explanations": np.ascontiguousarray(reading.explanations, dtype="<f4").tobytes(),
    }


class ModelShelf:
    """The database's models, each loaded once (a big model takes a second to load)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.loaded: dict[tuple[str, int], LoadedModel] = {}

    def get(self, name: str | None = None, version: int | None = None) -> LoadedModel:
        """The model (None name = the active one, None version = the newest), loaded once."""
        ref = registry.resolve(self.con, name, version)
        if ref not in self.loaded:
            self.loaded[ref] = registry.load_model(self.con, *ref)
        return self.loaded[ref]

    def choices(self) -> list[dict[str, str]]:
        """Every model as ``{"value": "name:version", "label": ...}``, newest first."""
        rows = sorted(registry.list_models(self.con), key=lambda m: m["created_at"], reverse=True)
        return [
            {
                "value": f"{m['name']}:{m['version']}",
                "label": f"{m['name']} v{m['version']}"
                + (f" · {m['accuracy']:.1%}" if m["accuracy"] is not None else "")
                + (" (active)" if m["active"] else ""),
            }
            for m in rows
        ]


def parse_choice(value: str) -> tuple[str | None, int | None]:
    """``"name:version"`` (as in :meth:`ModelShelf.choices`) to (name, version); "" = active."""
    if not value:
        return None, None
    name, _, version = value.rpartition(":")
    return name, int(version)


def find_test_digit(con: duckdb.DuckDBPyConnection, label: int, offset: int) -> dict[str, Any]:
    """The ``offset``-th test example of ``label`` by id (clamped to the last), with the count."""
    count = con.execute("SELECT count(*) FROM digits_test WHERE label = ?", [label]).fetchall()
    total = int(count[0][0])
    if total == 0:
        raise LookupError(f"the test fold holds no {label}")
    offset = min(max(offset, 0), total - 1)
    row = con.execute(
        "SELECT id, pixels FROM digits_test WHERE label = ? ORDER BY id LIMIT 1 OFFSET ?",
        [label, offset],
    ).fetchall()[0]
    pixels = np.asarray(row[1], dtype=np.uint8)
    return {"id": int(row[0]), "pixels": pixels, "offset": offset, "count": total}
