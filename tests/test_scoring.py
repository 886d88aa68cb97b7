"""The scoring façade on real tiny models: one digit's answer, and the same numbers in batches."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from mlpaint import registry, scoring
from mlpaint.explain import bias, explain
from mlpaint.registry import LoadedModel

SCORER_KEYS = [
    "prediction",
    "runner_up",
    "confidence",
    "probabilities",
    "scores",
    "pixels",
    "model",
]


@pytest.fixture(scope="module")
def loaded(trained_db_template: Path) -> dict[str, LoadedModel]:
    """Both models of the trained database: ``tiny`` and the deskewing ``small2``."""
    con = duckdb.connect(str(trained_db_template), read_only=True)
    try:
        return {name: registry.load_model(con, name) for name in ("tiny", "small2")}
    finally:
        con.close()


@pytest.fixture(scope="module")
def digits(trained_db_template: Path) -> np.ndarray:
    """(40, 784) uint8 stored test digits."""
    con = duckdb.connect(str(trained_db_template), read_only=True)
    try:
        rows = con.execute("SELECT pixels FROM digits_test ORDER BY id LIMIT 40").fetchall()
    finally:
        con.close()
    return np.array([r[0] for r in rows], dtype=np.uint8)


def test_answer_has_the_scorer_shape(loaded: dict[str, LoadedModel], digits: np.ndarray) -> None:
    output = scoring.answer(loaded["tiny"], digits[0])
    assert list(output) == SCORER_KEYS
    assert output["prediction"] == int(np.argmax(output["scores"]))
    assert output["runner_up"] == int(np.argsort(output["scores"])[-2])
    assert output["confidence"] == pytest.approx(float(output["probabilities"].max()))
    assert output["probabilities"].sum() == pytest.approx(1, abs=1e-5)
    np.testing.assert_array_equal(output["pixels"], digits[0])
    assert output["model"] == {"name": "tiny", "version": 1}
    deskewed = scoring.answer(loaded["small2"], digits[0])["pixels"]
    assert deskewed.shape == (784,) and not np.array_equal(deskewed, digits[0])


def test_answer_explains_one_label_or_all(
    loaded: dict[str, LoadedModel], digits: np.ndarray
) -> None:
    one = scoring.answer(loaded["tiny"], digits[1], explain=True)
    assert list(one) == [*SCORER_KEYS, "label", "explanation", "bias", "score"]
    assert one["label"] == one["prediction"] and one["score"] == one["scores"][one["label"]]
    assert one["bias"] + one["explanation"].sum() == pytest.approx(one["score"], abs=1e-4)
    every = scoring.answer(loaded["tiny"], digits[1], explain="all", label=5)
    assert every["label"] == 5 and list(every)[-2:] == ["explanations", "biases"]
    np.testing.assert_array_equal(every["explanation"], every["explanations"][5])
    sums = every["biases"] + every["explanations"].sum(axis=1, dtype=np.float64)
    np.testing.assert_allclose(sums, every["scores"], atol=1e-4)


@pytest.mark.parametrize("name", ["tiny", "small2"])
def test_batches_give_each_rows_answer(
    loaded: dict[str, LoadedModel], digits: np.ndarray, name: str
) -> None:
    model = loaded[name]
    answers = [scoring.answer(model, row, explain="all") for row in digits]
    np.testing.assert_allclose(
        scoring.scores(model, digits), [a["scores"] for a in answers], atol=1e-6
    )
    np.testing.assert_allclose(
        scoring.probabilities(model, digits), [a["probabilities"] for a in answers], atol=1e-6
    )
    assert scoring.predictions(model, digits).tolist() == [a["prediction"] for a in answers]
    np.testing.assert_allclose(
        scoring.explanations(model, digits), [a["explanations"] for a in answers], atol=1e-6
    )
    np.testing.assert_array_equal(scoring.bias(model), answers[0]["biases"])


def test_the_bias_is_the_one_every_explanation_starts_from(
    loaded: dict[str, LoadedModel], digits: np.ndarray
) -> None:
    model = loaded["small2"].model
    np.testing.assert_array_equal(bias(model), explain(model, digits).bias)
    np.testing.assert_array_equal(bias(model), explain(model, digits[:0]).bias)
