"""Classification metrics for the ten digits, in NumPy, as JSON-able dicts.

Besides the usual numbers this reports ``mldb_weighted_accuracy``, the figure MLDB's MLPaint
demo quotes (0.9944 there): for each digit d, the accuracy of the binary question "is it d?"
answered by the top-1 prediction, averaged with weights = support of d. Each mistake is wrong for
two digits (the actual one and the predicted one), so for ten balanced classes it is about
``1 - 2 * error_rate / 10``: 0.9944 corresponds to about 97.2% top-1 accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlpaint.pixels import N_CLASSES

# Probabilities are clipped here before the log, as scikit-learn did for years, so one
# confident mistake costs a large but finite amount.
LOG_LOSS_EPS = 1e-15
SCALARS = (
    "n",
    "accuracy",
    "error_rate",
    "mldb_weighted_accuracy",
    "log_loss",
    "macro_precision",
    "macro_recall",
    "macro_f1",
)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(10,10) int64 counts; rows are the actual digit, columns the predicted one."""
    flat = np.asarray(labels, dtype=np.int64) * N_CLASSES + np.asarray(predicted, dtype=np.int64)
    return np.bincount(flat, minlength=N_CLASSES * N_CLASSES).reshape(N_CLASSES, N_CLASSES)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise ``numerator / denominator`` with 0 where the denominator is 0."""
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean negative log probability of the true digit (probabilities clipped to 1e-15)."""
    return float(np.mean(_row_log_loss(np.asarray(labels, dtype=np.int64), probabilities)))


def brier_score(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean squared distance between each row's probabilities and its one-hot digit (0 to 2)."""
    return float(np.mean(_row_brier(np.asarray(labels, dtype=np.int64), probabilities)))


def _row_log_loss(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    true_p = np.asarray(probabilities, dtype=np.float64)[np.arange(len(labels)), labels]
    return -np.log(np.clip(true_p, LOG_LOSS_EPS, 1.0))


def _row_brier(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    return np.sum((p - np.eye(p.shape[1])[labels]) ** 2, axis=1)


def _row_right(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    return (probabilities.argmax(axis=1) == labels).astype(np.float64)


def mldb_weighted_accuracy(confusion: np.ndarray) -> float:
    """Support-weighted mean over digits of one-vs-rest binary accuracy (MLDB's figure)."""
    n = confusion.sum()
    correct = np.diag(confusion)
    false_neg = confusion.sum(axis=1) - correct
    false_pos = confusion.sum(axis=0) - correct
    binary_accuracy = 1.0 - (false_neg + false_pos) / n
    support = confusion.sum(axis=1)
    return float(np.sum(support * binary_accuracy) / n)


def _check(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and ranges; returns (int64 labels, float64 probabilities)."""
    y = np.asarray(labels)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.ndim != 1 or p.shape != (len(y), N_CLASSES) or len(y) == 0:
        raise ValueError(f"expected (n,) labels and (n,10) probabilities, got {y.shape}, {p.shape}")
    if y.min() < 0 or y.max() >= N_CLASSES:
        raise ValueError("labels must be digits 0..9")
    return y.astype(np.int64), p


def evaluate(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Every metric of top-1 predictions (argmax) against ``labels``, as a JSON-able dict."""
    y, p = _check(labels, probabilities)
    confusion = confusion_matrix(y, p.argmax(axis=1))
    correct = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    precision = _ratio(correct, confusion.sum(axis=0))
    recall = _ratio(correct, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    accuracy = float(correct.sum() / len(y))
    return {
        "n": len(y),
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "mldb_weighted_accuracy": mldb_weighted_accuracy(confusion),
        "log_loss": log_loss(y, p),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "per_class": [
            {
                "digit": d,
                "precision": float(precision[d]),
                "recall": float(recall[d]),
                "f1": float(f1[d]),
                "support": int(support[d]),
            }
            for d in range(N_CLASSES)
        ],
        "confusion": confusion.tolist(),
    }


def paired_comparison(
    labels: np.ndarray,
    probabilities_a: np.ndarray,
    probabilities_b: np.ndarray,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """How model b differs from model a on the same rows, with the noise of those rows.

    ``only_a`` / ``only_b`` count the rows just one of them reads right and ``sign_test_p`` is
    the exact two-sided sign test on them (McNemar's); each ``*_diff`` is b minus a, with its
    95% paired-bootstrap interval in ``*_ci``. Several runs of each (seeds, paired in order) come
    as (runs, n, 10): a row then counts for whichever reads it right in more runs, and each row's
    differences are averaged over the runs before the bootstrap, so the rows stay the unit.
    """
    from scipy.stats import binomtest  # half a second to import, for the benches alone

    y, runs_a = _check_runs(labels, probabilities_a)
    runs_b = _check_runs(labels, probabilities_b)[1]
    if len(runs_a) != len(runs_b):
        raise ValueError(f"{len(runs_a)} runs of a against {len(runs_b)} of b")
    per_row = {
        "accuracy": _mean_over_runs(y, runs_a, runs_b, _row_right),
        "log_loss": _mean_over_runs(y, runs_a, runs_b, _row_log_loss),
        "brier": _mean_over_runs(y, runs_a, runs_b, _row_brier),
    }
    only_a, only_b = int(np.sum(per_row["accuracy"] < 0)), int(np.sum(per_row["accuracy"] > 0))
    means = _bootstrap_means(np.stack(list(per_row.values())), resamples, seed)
    result: dict[str, Any] = {
        "n": len(y),
        "runs": len(runs_a),
        "only_a": only_a,
        "only_b": only_b,
        "sign_test_p": binomtest(only_b, only_a + only_b).pvalue if only_a + only_b else 1.0,
    }
    for (name, diff), resampled in zip(per_row.items(), means, strict=True):
        result[f"{name}_diff"] = float(diff.mean())
        result[f"{name}_ci"] = [float(q) for q in np.quantile(resampled, [0.025, 0.975])]
    return result


def _check_runs(
    labels: np.ndarray, probabilities: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Labels and a list of validated (n,10) runs from (n,10) or (runs, n, 10) probabilities."""
    stacked = np.asarray(probabilities)
    runs = [stacked] if stacked.ndim == 2 else list(stacked)
    if not runs:
        raise ValueError("expected at least one run of probabilities")
    checked = [_check(labels, run) for run in runs]
    return checked[0][0], [p for _, p in checked]


def _mean_over_runs(
    y: np.ndarray,
    runs_a: list[np.ndarray],
    runs_b: list[np.ndarray],
    per_row: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Each row's b-minus-a figure, averaged over the paired runs."""
    pairs = zip(runs_a, runs_b, strict=True)
    return np.mean([per_row(y, b) - per_row(y, a) for a, b in pairs], axis=0)


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(k, resamples) means of each of the k rows of ``values`` over rows drawn with replacement."""
    rng = np.random.default_rng(seed)
    n = values.shape[1]
    means = np.empty((values.shape[0], resamples))
    for start in range(0, resamples, 100):  # 100 resamples of 10,000 rows at a time: 8 MB
        draws = rng.integers(0, n, size=(min(100, resamples - start), n))
        means[:, start : start + len(draws)] = values[:, draws].mean(axis=2)
    return means


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (n-1; 0 for one run) of each scalar metric."""
    summary: dict[str, dict[str, float]] = {"mean": {}, "std": {}}
    for key in SCALARS:
        values = np.array([run[key] for run in runs], dtype=np.float64)
        summary["mean"][key] = float(values.mean())
        summary["std"][key] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return summary


def first_non_finite(tree: Any, path: str = "") -> str | None:
    """Where the first NaN or infinity in a metrics tree is (``"test.log_loss = nan"``), or None."""
    if isinstance(tree, float):
        return None if math.isfinite(tree) else f"{path} = {tree}"
    if isinstance(tree, (dict, list)):
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        for key, value in items:
            found = first_non_finite(value, f"{path}.{key}" if path else str(key))
            if found:
                return found
    return None
