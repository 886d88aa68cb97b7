"""Classification metrics for the ten digits, in NumPy, as JSON-able dicts.

Besides the usual numbers this reports ``mldb_weighted_accuracy``, the figure MLDB's MLPaint
demo quotes (0.9944 there): for each digit d, the accuracy of the binary question "is it d?"
answered by the top-1 prediction, averaged with weights = support of d. Each mistake is wrong for
two digits (the actual one and the predicted one), so for ten balanced classes it is about
``1 - 2 * error_rate / 10``: 0.9944 corresponds to about 97.2% top-1 accuracy.
"""

from __future__ import annotations

import math
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
    p = np.asarray(probabilities, dtype=np.float64)
    true_p = p[np.arange(len(p)), np.asarray(labels, dtype=np.int64)]
    return float(-np.mean(np.log(np.clip(true_p, LOG_LOSS_EPS, 1.0))))


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
