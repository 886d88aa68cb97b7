"""SHAP explanations: the additivity identity and agreement with shap.TreeExplainer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from mnist_slice import load_slice

from mlpaint.explain import explain, explain_labels, explain_with_shap
from mlpaint.model import BaggedBoostedTrees, ModelSpec


@pytest.fixture(scope="module")
def model() -> BaggedBoostedTrees:
    """Three tiny deskewing boosters, so the ensemble mean is exercised."""
    x, y = load_slice(2000)
    algorithm = {"bags": 3, "max_iter": 4, "num_leaves": 15, "num_threads": 1}
    spec = ModelSpec.from_dict(algorithm, {"deskew": True})
    return BaggedBoostedTrees.fit(x, y, spec)


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    """400 held-out digits."""
    return load_slice(400, offset=62000)[0]


def test_bias_plus_values_equals_scores_for_every_row_and_digit(
    model: BaggedBoostedTrees, rows: np.ndarray
) -> None:
    explanation = explain(model, rows)
    assert explanation.values.shape == (400, 10, 784)
    assert explanation.values.dtype == np.float32 and explanation.bias.shape == (10,)
    reconstructed = explanation.bias[None, :] + explanation.values.sum(axis=2, dtype=np.float64)
    np.testing.assert_allclose(reconstructed, model.scores(rows), atol=1e-4)


def test_values_are_the_mean_of_each_boosters_explanation(
    model: BaggedBoostedTrees, rows: np.ndarray
) -> None:
    x = model.prepare(rows[:20]).astype(np.float64)
    per_booster = [b.predict(x, pred_contrib=True).reshape(20, 10, 785) for b in model.boosters]
    mean = np.mean(per_booster, axis=0)
    explanation = explain(model, rows[:20])
    np.testing.assert_allclose(explanation.values, mean[:, :, :784], atol=1e-6)
    np.testing.assert_allclose(explanation.bias, mean[0, :, 784], atol=1e-6)


def test_native_path_agrees_with_shap_tree_explainer(
    model: BaggedBoostedTrees, rows: np.ndarray
) -> None:
    native = explain(model, rows[:100])
    reference = explain_with_shap(model, rows[:100])
    np.testing.assert_allclose(native.values, reference.values, atol=1e-5)
    np.testing.assert_allclose(native.bias, reference.bias, atol=1e-5)
    # Pixels that no tree splits on (the corners) get exactly zero in both.
    unused = np.all(reference.values == 0, axis=(0, 1))
    assert unused.any() and np.all(native.values[:, :, unused] == 0)


def test_single_row_and_prepared_input(model: BaggedBoostedTrees, rows: np.ndarray) -> None:
    batch = explain(model, rows[:5])
    one = explain(model, rows[3])
    np.testing.assert_allclose(one.values[0], batch.values[3], atol=1e-6)
    prepared = explain(model, model.prepare(rows[:5]), prepared=True)
    np.testing.assert_array_equal(prepared.values, batch.values)


def test_empty_batch_still_has_a_bias(model: BaggedBoostedTrees, rows: np.ndarray) -> None:
    empty = explain(model, rows[:0])
    assert empty.values.shape == (0, 10, 784)
    np.testing.assert_allclose(empty.bias, explain(model, rows[:1]).bias)


def test_one_digit_from_its_own_trees_is_exactly_its_share_of_all_ten(
    model: BaggedBoostedTrees, rows: np.ndarray
) -> None:
    labels = np.arange(60) % 10
    values, biases = explain_labels(model, rows[:60], labels)
    every = explain(model, rows[:60])
    assert values.dtype == np.float32 and values.shape == (60, 784) and biases.shape == (60,)
    np.testing.assert_array_equal(values, every.values[np.arange(60), labels])
    np.testing.assert_array_equal(biases, every.bias[labels])
    one, bias = explain_labels(model, model.prepare(rows[7]), [2], prepared=True)
    np.testing.assert_array_equal(one[0], every.values[7, 2])
    assert bias[0] == every.bias[2]


def test_one_row_explained_on_several_threads_has_the_batch_numbers_exactly(
    model: BaggedBoostedTrees, rows: np.ndarray
) -> None:
    threaded = BaggedBoostedTrees(replace(model.spec, num_threads=2), model.boosters)
    batch = explain(model, rows[:5])  # the merged booster, every digit in one pass
    for i in (0, 3):
        one = explain(threaded, rows[i])  # each digit's own trees, shared among two threads
        np.testing.assert_array_equal(one.values[0], batch.values[i])
        np.testing.assert_array_equal(one.bias, batch.bias)


@pytest.mark.parametrize("labels", [[10], [-1], [1, 2]])
def test_explaining_a_digit_needs_one_digit_a_row(
    model: BaggedBoostedTrees, rows: np.ndarray, labels: list[int]
) -> None:
    with pytest.raises(ValueError, match=r"one label 0\.\.9 per row"):
        explain_labels(model, rows[:1], labels)
