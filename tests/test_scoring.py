"""The scoring façade on real tiny models: one digit's answer, and the same numbers in batches."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import duckdb
import numpy as np
import pytest

from mlpaint import registry, scoring, verdict
from mlpaint.explain import bias, explain
from mlpaint.model import BaggedBoostedTrees, softmax
from mlpaint.registry import LoadedModel

SCORER_KEYS = [
    "prediction",
    "runner_up",
    "confidence",
    "probabilities",
    "scores",
    "uncertainty",
    "is_digit",
    "bag_probabilities",
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


def test_bags_average_to_the_served_scores(
    loaded: dict[str, LoadedModel], digits: np.ndarray
) -> None:
    model = loaded["tiny"].model  # 2 bags
    bag_scores = model.bag_scores(digits)
    assert bag_scores.shape == (40, 2, 10)
    assert np.allclose(bag_scores.mean(axis=1), model.scores(digits), atol=1e-5)
    bags = scoring.bag_probabilities(loaded["tiny"], digits)
    assert np.allclose(bags, softmax(bag_scores), atol=1e-6)
    one = loaded["small2"].model  # 1 bag: its one booster is the merged one
    assert np.array_equal(one.bag_scores(digits)[:, 0], one.scores(digits))


def test_uncertainty_is_disagreement_plus_the_bags_doubt(
    loaded: dict[str, LoadedModel], digits: np.ndarray
) -> None:
    bags = scoring.bag_probabilities(loaded["tiny"], digits)
    total = scoring.uncertainties(bags)
    disagreement = verdict.mutual_information(bags)
    doubt = np.mean([scoring.uncertainties(bags[:, [b]]) for b in range(2)], axis=0)
    assert np.allclose(total, disagreement + doubt, atol=1e-9)
    assert (disagreement >= 0).all() and (total >= disagreement - 1e-12).all()
    assert (total <= 1).all()
    # One bag: no disagreement, and the uncertainty is the served probabilities' entropy.
    single = scoring.bag_probabilities(loaded["small2"], digits)
    assert np.allclose(verdict.mutual_information(single), 0)
    assert np.allclose(
        scoring.uncertainties(single),
        scoring.uncertainties(scoring.probabilities(loaded["small2"], digits)[:, None]),
    )


def test_the_threshold_travels_in_the_blob_and_defaults_for_older_models(
    loaded: dict[str, LoadedModel],
) -> None:
    model = loaded["tiny"].model
    assert model.verdict is not None and model.verdict["score"] == verdict.SCORE
    assert verdict.threshold_of(model) == model.verdict["threshold"]
    again = BaggedBoostedTrees.from_bytes(model.to_bytes())
    assert again.verdict == model.verdict
    older = BaggedBoostedTrees(model.spec, model.boosters)  # a blob from before the verdict
    assert "verdict" not in json.loads(lzma.decompress(older.to_bytes()[13:]))
    assert BaggedBoostedTrees.from_bytes(older.to_bytes()).verdict is None
    assert verdict.threshold_of(older) == verdict.DEFAULT_THRESHOLD


def test_the_threshold_rule_auroc_and_halves() -> None:
    rng = np.random.default_rng(0)
    digits, non_digits = rng.normal(0, 1, 2000), rng.normal(2, 1, 600)
    brute = np.mean([[n > d for d in digits[:300]] for n in non_digits[:300]])
    assert verdict.auroc(digits[:300], non_digits[:300]) == pytest.approx(brute)
    assert verdict.auroc(np.zeros(5), np.zeros(7)) == 0.5  # ties count half
    threshold = verdict.threshold_for(digits)
    assert (digits > threshold).mean() <= verdict.FALSE_NON_DIGIT_RATE
    assert (digits >= threshold).mean() > verdict.FALSE_NON_DIGIT_RATE
    halves = verdict.halves(1000)
    assert 400 < halves.sum() < 600 and np.array_equal(halves, verdict.halves(1000))
    choice = verdict.choose(digits, non_digits)
    assert choice.threshold == verdict.threshold_for(digits[verdict.halves(2000)])
    assert choice.test["digits"] + choice.validation["digits"] == 2000
    assert choice.test["non_digits"] + choice.validation["non_digits"] == 600


def test_training_stores_bag_agreement_and_the_verdict(trained_db_template: Path) -> None:
    con = duckdb.connect(str(trained_db_template), read_only=True)
    try:
        metrics = registry.get_model_info(con, "tiny")["metrics"]
    finally:
        con.close()
    assert metrics["bags"]["bags"] == 2
    assert 0 <= metrics["bags"]["all_agree"] <= 1
    assert 0 <= metrics["bags"]["mean_disagreement"] <= metrics["bags"]["mean_uncertainty"] <= 1
    not_digit = metrics["not_digit"]
    assert not_digit["score"] == verdict.SCORE
    for half in ("validation", "test"):
        figures = not_digit[half]
        assert set(figures) == {
            "auroc", "false_non_digit_rate", "detection_rate", "digits", "non_digits"
        }  # fmt: skip
        assert figures["digits"] > 20 and figures["non_digits"] > 20
    assert not_digit["validation"]["false_non_digit_rate"] <= verdict.FALSE_NON_DIGIT_RATE
