"""mlpaint.metrics against scikit-learn and against hand-worked cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlpaint.metrics import (
    brier_score,
    evaluate,
    mldb_weighted_accuracy,
    paired_comparison,
    summarize,
)


def _random_case(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and softmax probabilities that are right most of the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    logits = rng.normal(size=(n, 10))
    logits[np.arange(n), labels] += rng.uniform(0, 4, size=n)
    p = np.exp(logits)
    return labels, (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400))
def test_agrees_with_scikit_learn(seed: int, n: int) -> None:
    labels, proba = _random_case(seed, n)
    predicted = proba.argmax(axis=1)
    result = evaluate(labels, proba)
    digits = list(range(10))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        labels, predicted, labels=digits, zero_division=0
    )
    assert result["n"] == n
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted))
    assert result["confusion"] == skm.confusion_matrix(labels, predicted, labels=digits).tolist()
    np.testing.assert_allclose([c["precision"] for c in result["per_class"]], precision)
    np.testing.assert_allclose([c["recall"] for c in result["per_class"]], recall)
    np.testing.assert_allclose([c["f1"] for c in result["per_class"]], f1)
    assert [c["support"] for c in result["per_class"]] == support.tolist()
    assert result["macro_f1"] == pytest.approx(f1.mean())
    assert result["macro_precision"] == pytest.approx(precision.mean())
    p64 = proba.astype(np.float64)
    expected_loss = skm.log_loss(labels, p64 / p64.sum(axis=1, keepdims=True), labels=digits)
    assert result["log_loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_mldb_weighted_accuracy_by_hand() -> None:
    # Four digits: 0 (right), 0 (called 1), 1 (right), 2 (right).
    confusion = np.zeros((10, 10), dtype=np.int64)
    confusion[0, 0], confusion[0, 1], confusion[1, 1], confusion[2, 2] = 1, 1, 1, 1
    # One-vs-rest accuracies: digit 0: 3/4 (missed one), digit 1: 3/4 (one false alarm),
    # digit 2: 4/4. Supports 2, 1, 1 out of 4.
    expected = (2 * 0.75 + 1 * 0.75 + 1 * 1.0) / 4
    assert mldb_weighted_accuracy(confusion) == pytest.approx(expected)


def test_mldb_weighted_accuracy_is_one_minus_two_errors_over_ten_when_balanced() -> None:
    labels = np.repeat(np.arange(10), 100)
    predicted = labels.copy()
    predicted[::37] = (predicted[::37] + 3) % 10  # 28 mistakes
    proba = np.eye(10, dtype=np.float32)[predicted]
    result = evaluate(labels, proba)
    assert result["error_rate"] == pytest.approx(28 / 1000)
    assert result["mldb_weighted_accuracy"] == pytest.approx(1 - 2 * (28 / 1000) / 10)


def test_perfect_and_never_predicted_classes() -> None:
    labels = np.array([3, 3, 5, 7])
    perfect = evaluate(labels, np.eye(10, dtype=np.float32)[labels])
    assert perfect["accuracy"] == perfect["mldb_weighted_accuracy"] == 1.0
    assert perfect["log_loss"] == pytest.approx(0.0, abs=1e-12)
    # Digits never drawn nor predicted count as 0 in the macro averages, like scikit-learn's.
    assert perfect["macro_f1"] == pytest.approx(3 / 10)
    assert sum(map(sum, perfect["confusion"])) == 4
    # A confident mistake costs a large but finite log loss.
    wrong = evaluate(np.array([1]), np.eye(10, dtype=np.float32)[[2]])
    assert wrong["accuracy"] == 0.0 and np.isfinite(wrong["log_loss"])
    json.dumps(perfect)  # everything is plain JSON


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        evaluate(np.array([1, 2]), np.zeros((3, 10)))
    with pytest.raises(ValueError, match=r"0\.\.9"):
        evaluate(np.array([10]), np.zeros((1, 10)))
    with pytest.raises(ValueError):
        evaluate(np.array([], dtype=int), np.zeros((0, 10)))


def test_summarize_gives_mean_and_sample_std() -> None:
    runs = [evaluate(*_random_case(seed, 200)) for seed in range(3)]
    summary = summarize(runs)
    accuracies = [r["accuracy"] for r in runs]
    assert summary["mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
    assert summary["std"]["accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
    assert set(summary["mean"]) == set(summary["std"]) >= {"log_loss", "mldb_weighted_accuracy"}
    assert summarize(runs[:1])["std"]["accuracy"] == 0.0


def test_brier_score_by_hand() -> None:
    labels = np.array([3, 7])
    one_hot = np.eye(10)[labels]
    assert brier_score(labels, one_hot) == 0.0
    assert brier_score(labels, np.full((2, 10), 0.1)) == pytest.approx(0.81 + 9 * 0.01)
    assert brier_score(labels, np.eye(10)[[4, 7]]) == pytest.approx(1.0)  # one of two wrong: 2/2


def test_paired_comparison_counts_the_rows_only_one_reads_right() -> None:
    labels = np.zeros(10, dtype=int)
    right, wrong = np.eye(10)[0], np.eye(10)[1]
    a = np.array([right] * 8 + [wrong] * 2)  # a reads rows 0-7
    b = np.array([right] * 2 + [wrong] * 6 + [right] * 2)  # b reads 0-1 and 8-9
    paired = paired_comparison(labels, a, b)
    assert (paired["only_a"], paired["only_b"]) == (6, 2)
    assert paired["accuracy_diff"] == pytest.approx(-0.4)
    # exact sign test: P(at most 2 of 8 fair coins, either tail) = 2 * (1 + 8 + 28) / 256
    assert paired["sign_test_p"] == pytest.approx(2 * 37 / 256)
    low, high = paired["accuracy_ci"]
    assert low < -0.4 < 0 < high  # ten rows: too few to tell, as the sign test says


def test_paired_comparison_sees_sharper_probabilities_as_better() -> None:
    labels, a = _random_case(7, 2000)
    logits = np.log(a.astype(np.float64))
    logits[np.arange(len(labels)), labels] += 1.0  # b: more sure of the true digit, same ranks
    b = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    paired = paired_comparison(labels, a, b)
    assert paired["log_loss_diff"] < 0 and paired["log_loss_ci"][1] < 0
    assert paired["brier_diff"] < 0 and paired["brier_ci"][1] < 0
    assert paired["only_a"] == 0 and paired["sign_test_p"] <= 1.0
    same = paired_comparison(labels, a, a)
    assert (same["only_a"], same["only_b"], same["sign_test_p"]) == (0, 0, 1.0)
    assert same["log_loss_ci"] == [0.0, 0.0]


def test_paired_comparison_over_seeds_counts_each_row_once() -> None:
    labels = np.zeros(10, dtype=int)
    right, wrong = np.eye(10)[0], np.eye(10)[1]
    a = np.array([right] * 8 + [wrong] * 2)  # a reads rows 0-7 with both seeds
    b_seed0 = np.array([right] * 2 + [wrong] * 6 + [right] * 2)  # b: 0-1 and 8-9
    b_seed1 = np.array([right] * 3 + [wrong] * 5 + [right] * 2)  # ... and row 2 too
    paired = paired_comparison(labels, np.stack([a, a]), np.stack([b_seed0, b_seed1]))
    # Summed over seeds the counts would be 11 against 4, as if 15 rows were independent; per
    # row, a reads 2-7 with more seeds and b reads 8-9: 6 against 2, one row each.
    assert (paired["runs"], paired["only_a"], paired["only_b"]) == (2, 6, 2)
    assert paired["sign_test_p"] == pytest.approx(2 * 37 / 256)
    assert paired["accuracy_diff"] == pytest.approx((-0.4 - 0.3) / 2)
    one_seed = paired_comparison(labels, a[None], b_seed0[None])
    assert one_seed == paired_comparison(labels, a, b_seed0)
    with pytest.raises(ValueError, match="2 runs of a against 1 of b"):
        paired_comparison(labels, np.stack([a, a]), b_seed0)
    with pytest.raises(ValueError, match="at least one run"):
        paired_comparison(labels, np.empty((0, 10, 10)), np.empty((0, 10, 10)))
