"""Per-pixel SHAP explanations of a bagged boosted trees model, in raw margin space."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from mlpaint.model import BaggedBoostedTrees
from mlpaint.pixels import N_CLASSES, N_PIXELS


@dataclass
class Explanation:
    """SHAP values per row, digit and pixel; ``bias[d] + values[i, d].sum() == scores[i, d]``."""

    values: np.ndarray  # (n, 10, 784) float32: per digit, per pixel SHAP value in margin space
    bias: np.ndarray  # (10,) float32: expected score per digit (SHAP base value)


def explain(
    model: BaggedBoostedTrees, pixels: np.ndarray, *, prepared: bool = False
) -> Explanation:
    """Tree-path-dependent TreeSHAP via LightGBM's native ``pred_contrib`` (the serving path).

    One row (the page, the explainer asked for every digit) is explained digit by digit from
    each digit's own trees, the digits shared among the model's threads: the same numbers,
    exactly, in about 1/threads of the time. A batch spreads its rows over the threads instead.
    """
    x = model.float_rows(pixels, prepared=prepared)
    if len(x) == 0:
        # The bias still comes from the trees: explain a blank row and keep only that.
        return Explanation(np.zeros((0, N_CLASSES, N_PIXELS), np.float32), bias(model))
    if len(x) == 1 and model.spec.num_threads > 1:
        return _each_digit_in_threads(model, x)
    threads = 1 if len(x) == 1 else model.spec.num_threads
    # The merged booster holds every tree scaled by 1/B; TreeSHAP is additive over trees, so
    # one pass gives the mean of the boosters' explanations.
    contrib = model.merged.predict(x, pred_contrib=True, num_threads=threads)
    contrib = np.asarray(contrib).reshape(len(x), N_CLASSES, N_PIXELS + 1)
    return Explanation(
        values=contrib[:, :, :N_PIXELS].astype(np.float32),
        bias=contrib[0, :, N_PIXELS].astype(np.float32),
    )


def _each_digit_in_threads(model: BaggedBoostedTrees, row: np.ndarray) -> Explanation:
    """One (1, 784) row explained for every digit, each digit's trees on one of the threads."""
    boosters = model.class_boosters  # built once, before the threads share it

    def contributions(label: int) -> np.ndarray:
        return boosters[label].predict(row, pred_contrib=True, num_threads=1)[0]

    with ThreadPoolExecutor(model.spec.num_threads) as pool:
        contrib = np.stack(list(pool.map(contributions, range(N_CLASSES))))
    return Explanation(
        values=contrib[None, :, :N_PIXELS].astype(np.float32),
        bias=contrib[:, N_PIXELS].astype(np.float32),
    )


def explain_labels(
    model: BaggedBoostedTrees, pixels: np.ndarray, labels: np.ndarray, *, prepared: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's explanation of one digit: (n, 784) float32 SHAP values and (n,) biases.

    The numbers ``explain`` gives for those digits, exactly, from those digits' trees alone.
    """
    x = model.float_rows(pixels, prepared=prepared)
    labels = np.asarray(labels, dtype=np.intp).reshape(-1)
    if len(labels) != len(x) or not np.all((labels >= 0) & (labels < N_CLASSES)):
        raise ValueError(f"expected one label 0..{N_CLASSES - 1} per row")
    values = np.zeros((len(x), N_PIXELS), np.float32)
    biases = np.zeros(len(x), np.float32)
    threads = 1 if len(x) == 1 else model.spec.num_threads
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        booster = model.class_boosters[label]
        contrib = booster.predict(x[rows], pred_contrib=True, num_threads=threads)
        values[rows] = contrib[:, :N_PIXELS]
        biases[rows] = contrib[:, N_PIXELS]
    return values, biases


def bias(model: BaggedBoostedTrees) -> np.ndarray:
    """(10,) float32: the SHAP base value per digit, where every explanation of ``model`` starts."""
    blank = np.zeros((1, N_PIXELS), np.float32)
    return explain(model, blank, prepared=True).bias


def explain_with_shap(
    model: BaggedBoostedTrees, pixels: np.ndarray, *, prepared: bool = False
) -> Explanation:
    """Reference path: ``shap.TreeExplainer`` on each booster, explanations averaged."""
    import shap  # slow to import; only the reference path and tests need it

    x = model.float_rows(pixels, prepared=prepared)
    values = np.zeros((len(x), N_CLASSES, N_PIXELS))
    base = np.zeros(N_CLASSES)
    for booster in model.boosters:
        explainer = shap.TreeExplainer(booster, feature_perturbation="tree_path_dependent")
        # shap >= 0.45 returns one (n, features, classes) array for multiclass models.
        sv = np.asarray(explainer.shap_values(x)).reshape(len(x), N_PIXELS, N_CLASSES)
        values += sv.transpose(0, 2, 1)
        base += np.asarray(explainer.expected_value, dtype=np.float64).reshape(N_CLASSES)
    n = model.n_boosters
    return Explanation((values / n).astype(np.float32), (base / n).astype(np.float32))
