"""The digit / not-a-digit verdict with its learned detector, on real tiny LightGBM models."""

from __future__ import annotations

import io
import math
from pathlib import Path

import duckdb
import numpy as np
import pytest
from flask.testing import FlaskClient
from PIL import Image, ImageDraw

from mlpaint import detector, images, nondigits, registry, scoring, sqlfunctions, verdict
from mlpaint.model import BaggedBoostedTrees, ModelSpec
from mlpaint.registry import LoadedModel

SCORER = "/v1/functions/scorer/application"
Line = list[tuple[float, float]]


def drawn(lines: list[Line], width: int = 16) -> np.ndarray:
    """(784,) what the REST image input makes of light strokes on a black 280 px canvas."""
    image = Image.new("L", (280, 280), 0)
    for line in lines:
        ImageDraw.Draw(image).line([(280 * x, 280 * y) for x, y in line], fill=255, width=width)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return images.image_to_pixels(buffer.getvalue())


def ring(cx: float, cy: float, r: float, start: float = 0, end: float = 360) -> Line:
    angles = np.radians(np.linspace(start, end, 40))
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]


# The paint page's square and X (tests/test_browser.py), and a smiley.
SHAPES: dict[str, list[Line]] = {
    "square": [[(0.15, 0.15), (0.85, 0.15), (0.85, 0.85), (0.15, 0.85), (0.15, 0.15)]],
    "X": [[(0.1, 0.1), (0.9, 0.9)], [(0.9, 0.1), (0.1, 0.9)]],
    "smiley": [
        ring(0.5, 0.5, 0.38),
        [(0.37, 0.38), (0.38, 0.42)],
        [(0.62, 0.38), (0.63, 0.42)],
        ring(0.5, 0.55, 0.2, 20, 160),
    ],
}


@pytest.fixture(scope="module")
def mnist(mnist_train: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    images_, labels = mnist_train
    return images_.reshape(-1, 784), labels


@pytest.fixture(scope="module")
def trained(mnist: tuple[np.ndarray, np.ndarray]) -> tuple[BaggedBoostedTrees, dict]:
    """A tiny deskewing model on 3,000 digits; its verdict, tested on the next 1,000; figures."""
    pixels, labels = mnist
    spec = ModelSpec(bags=1, max_iter=20, num_leaves=15, seed=1, num_threads=1, deskew=True)
    fitted = BaggedBoostedTrees.fit(pixels[:3000], labels[:3000], spec)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(verdict.SAMPLE_ENV, "150")  # enough training non-digits to learn shapes
        figures = verdict.evaluate(fitted, pixels[3000:4000], None, (pixels[:3000], None))
    return fitted, figures


@pytest.fixture(scope="module")
def model(trained: tuple[BaggedBoostedTrees, dict]) -> BaggedBoostedTrees:
    return trained[0]


def test_the_detector_tells_drawn_shapes_from_digits(
    model: BaggedBoostedTrees, mnist: tuple[np.ndarray, np.ndarray]
) -> None:
    assert model.verdict["score"] == verdict.SCORE == "combined"
    shapes = np.stack([drawn(lines) for lines in SHAPES.values()])
    seen = model.prepare(shapes)
    bags = model.bag_scores(seen, prepared=True)
    says = verdict.is_digit(model, seen, bags)
    assert not says.any(), verdict.scores_of(model, seen, bags)
    # The same learned part alone ranks each shape above nearly every held-out digit.
    digits = model.prepare(mnist[0][5000:5400])
    margins = detector.margins(model.verdict["detector"], digits)
    assert (detector.margins(model.verdict["detector"], seen) > np.quantile(margins, 0.98)).all()
    # One row (a request's) takes LightGBM's single-row path: the same numbers exactly.
    one_at_a_time = [detector.margins(model.verdict["detector"], row)[0] for row in digits[:20]]
    np.testing.assert_array_equal(one_at_a_time, margins[:20])
    held_out = verdict.is_digit(model, digits, model.bag_scores(digits, prepared=True))
    assert held_out.mean() >= 0.97
    one = drawn([[(0.5, 0.15), (0.5, 0.85)]])  # a drawn 1 is still a digit
    seen_one = model.prepare(one)
    assert verdict.is_digit(model, seen_one, model.bag_scores(seen_one, prepared=True))[0]


def test_the_combination_is_measured_on_separate_halves(
    trained: tuple[BaggedBoostedTrees, dict],
) -> None:
    model, figures = trained[0], trained[1]["not_digit"]
    assert figures["score"] == "combined" and len(figures["weights"]) == 3
    assert figures["weights"] == model.verdict["weights"]
    assert figures["threshold"] == model.verdict["threshold"]
    assert figures["validation"]["false_non_digit_rate"] <= verdict.FALSE_NON_DIGIT_RATE
    assert set(figures["test_auroc_alone"]) == {"entropy", "detector"}
    # Combined, the score ranks the test halves at least as well as the entropy alone.
    assert figures["test"]["auroc"] > figures["test_auroc_alone"]["entropy"]


def test_the_detector_travels_in_the_blob_and_is_built_once(model: BaggedBoostedTrees) -> None:
    again = BaggedBoostedTrees.from_bytes(model.to_bytes())
    assert again.verdict == model.verdict
    text = again.verdict["detector"]
    assert detector.booster(text) is detector.booster(text)
    shapes = again.prepare(np.stack([drawn(lines) for lines in SHAPES.values()]))
    bags = again.bag_scores(shapes, prepared=True)
    np.testing.assert_array_equal(
        verdict.scores_of(again, shapes, bags), verdict.scores_of(model, shapes, bags)
    )


@pytest.mark.parametrize(
    "rule", [None, {"score": "entropy", "threshold": 0.3}, {"score": "unknown", "threshold": 9}]
)
def test_models_without_a_detector_keep_the_entropy_rule(
    model: BaggedBoostedTrees, mnist: tuple[np.ndarray, np.ndarray], rule: dict | None
) -> None:
    older = BaggedBoostedTrees.from_bytes(BaggedBoostedTrees(model.spec, model.boosters, rule)
                                          .to_bytes())  # fmt: skip
    assert older.verdict == rule
    threshold = 0.3 if rule and rule["score"] == "entropy" else verdict.DEFAULT_THRESHOLD
    assert verdict.threshold_of(older) == threshold
    pixels = np.concatenate([mnist[0][6000:6100], np.stack([drawn(SHAPES["square"])])])
    loaded = LoadedModel("old", 1, None, older)  # type: ignore[arg-type]
    entropies = scoring.uncertainties_of(loaded, pixels)
    np.testing.assert_array_equal(scoring.is_digit(loaded, pixels), entropies <= threshold)
    assert scoring.answer(loaded, pixels[-1])["is_digit"] == bool(entropies[-1] <= threshold)


def test_the_evaluation_non_digits_are_never_learned_from() -> None:
    assert detector.TRAINING_SEED != nondigits.SEED
    with pytest.raises(ValueError, match="evaluation non-digits"):
        detector.non_digits(5, seed=nondigits.SEED)
    learned = {data for _, data in nondigits.make(100, detector.TRAINING_SEED)}
    assert not learned & {data for _, data in nondigits.make(100)}


def test_ml_is_digit_and_rest_is_digit_agree(trained_db: Path, make_client) -> None:
    con = duckdb.connect(str(trained_db))
    try:
        sqlfunctions.register(con)
        loaded = registry.load_model(con)
        assert loaded.model.verdict["score"] == "combined"  # trained with its detector
        rows = con.execute(
            "SELECT pixels, ml_is_digit(pixels) FROM digits_test ORDER BY id LIMIT 20"
        ).fetchall()
        shapes = [drawn(lines).tolist() for lines in SHAPES.values()]
        for shape in shapes:
            rows += con.execute(
                "SELECT ?::UTINYINT[784], ml_is_digit(?)", [shape, shape]
            ).fetchall()
    finally:
        con.close()
    pixels = [list(r[0]) for r in rows]
    expected = scoring.is_digit(loaded, np.array(pixels, dtype=np.uint8)).tolist()
    assert [r[1] for r in rows] == expected
    client: FlaskClient = make_client(trained_db)
    for row, says in zip(pixels, expected, strict=True):
        output = client.post(SCORER, json={"input": {"pixels": row}}).json["output"]
        assert output["is_digit"] is says
