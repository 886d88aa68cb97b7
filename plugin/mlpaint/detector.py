"""A learned "is it a digit?" detector: a small binary LightGBM booster on what the model sees.

Trained at training time (:func:`fit`, called by ``mlpaint.verdict.evaluate``) on digits from the
model's TRAINING rows, some as they are and some captured in every named way
(``mlpaint.captures``) and read back through the REST image path, against non-digits made with
``TRAINING_SEED`` (never ``nondigits.SEED``, the evaluation set) through the same path, plus a
slightly rotated copy of each. The features are the 784 pixels the classifier sees
(``model.prepare``: deskewed when the model deskews); the ensemble's own signals were tried as
features and left out: they are over-confident on training digits, and the verdict adds the
uncertainty anyway (``mlpaint.verdict``). The booster travels as LightGBM text in the model's
``verdict`` dict and is built once per text (:func:`booster`). The verdict's score joins its
margin with the entropy (:func:`combine`, weights from :func:`fit_weights`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import lightgbm
import numpy as np
from scipy import ndimage
from scipy.optimize import minimize
from scipy.special import logit

from mlpaint import captures, nondigits, readback
from mlpaint.rowpredict import RowPredictor

# The non-digits the detector learns from; the evaluation set (nondigits.SEED) is never seen.
TRAINING_SEED = nondigits.SEED + 1
ROTATION = 20.0  # degrees either way for the rotated copy of each training non-digit
ROUNDS = 100
PARAMS = {
    "objective": "binary",
    "num_leaves": 15,
    "learning_rate": 0.1,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.5,
    "max_bin": 63,
    "num_threads": 1,  # a few seconds on one core; training shares the machine
    "deterministic": True,
    "force_col_wise": True,
    "seed": 0,
    "verbose": -1,
}


def captured(digits: np.ndarray, ids: np.ndarray, workers: int = 1) -> np.ndarray:
    """(n, 784): each digit captured as the next kind of ``captures.KINDS``, read back as 28x28."""
    kinds = list(captures.KINDS)
    chosen = [kinds[i % len(kinds)] for i in range(len(digits))]
    return readback.captured(chosen, digits, np.asarray(ids), workers)


@lru_cache(maxsize=2)  # the same for every model: read once a process
def non_digits(n: int, seed: int = TRAINING_SEED, workers: int = 1) -> np.ndarray:
    """(about 2n, 784): ``n`` training non-digits through the image path and a rotated copy each."""
    if seed == nondigits.SEED:
        raise ValueError("the detector must not learn from the evaluation non-digits")
    # Those refused as empty never reach a model.
    read = readback.accepted([data for _, data in nondigits.make(n, seed)], workers)
    angles = np.random.default_rng(seed).uniform(-ROTATION, ROTATION, len(read))
    turned = [
        ndimage.rotate(r.reshape(28, 28).astype(np.float32), a, reshape=False, order=1)
        for r, a in zip(read, angles, strict=True)
    ]
    turned_pixels = np.clip(np.rint(turned), 0, 255).astype(np.uint8).reshape(-1, 784)
    out = np.concatenate([read, turned_pixels])
    out.setflags(write=False)
    return out


def train(
    model: Any,
    pixels: np.ndarray,
    ids: np.ndarray | None,
    n_captured: int,
    n_direct: int,
    n_non_digits: int,
) -> str:
    """The detector's LightGBM text for ``model``, from its training digits (a seeded sample)."""
    ids = np.arange(len(pixels)) if ids is None else np.asarray(ids)
    chosen = np.random.default_rng(0).permutation(len(pixels))[: n_captured + n_direct]
    shot, kept = chosen[:n_captured], chosen[n_captured:]
    workers = model.spec.num_threads
    digits = np.concatenate([captured(pixels[shot], ids[shot], workers), pixels[kept]])
    return fit(model.prepare(digits), model.prepare(non_digits(n_non_digits, workers=workers)))


def fit(digits: np.ndarray, others: np.ndarray) -> str:
    """The detector's LightGBM text, from prepared (n, 784) digits and non-digits."""
    x = np.concatenate([digits, others]).astype(np.float32)
    y = np.r_[np.zeros(len(digits)), np.ones(len(others))]
    # Both classes weigh the same whatever their counts.
    weight = np.r_[np.full(len(digits), len(others) / len(digits)), np.ones(len(others))]
    trained = lightgbm.train(PARAMS, lightgbm.Dataset(x, y, weight=weight), ROUNDS)
    return trained.model_to_string()


@lru_cache(maxsize=8)
def booster(text: str) -> lightgbm.Booster:
    """The detector booster of one model's text, built once (the string's hash is cached)."""
    return lightgbm.Booster(model_str=text)


@lru_cache(maxsize=8)
def _row_margin(text: str) -> RowPredictor:
    """The detector's single-row fast path (a request's one digit)."""
    return RowPredictor(booster(text), "raw")


def margins(text: str, prepared: np.ndarray, threads: int = 1) -> np.ndarray:
    """(n,) float64 raw margins of prepared (n, 784) pixels: higher is less like a digit."""
    x = np.asarray(prepared, dtype=np.float32).reshape(-1, 784)
    if len(x) == 0:
        return np.zeros(0)
    if len(x) == 1:
        return _row_margin(text)(x[0])
    return np.asarray(booster(text).predict(x, raw_score=True, num_threads=threads), np.float64)


def _terms(margins: np.ndarray, entropies: np.ndarray) -> np.ndarray:
    """(n, 3): detector margin, logit of the entropy (clipped), 1."""
    doubt = logit(np.clip(np.asarray(entropies, np.float64), 1e-6, 1 - 1e-6))
    return np.c_[np.asarray(margins, np.float64), doubt, np.ones(len(doubt))]


def combine(margins: np.ndarray, entropies: np.ndarray, weights: list[float]) -> np.ndarray:
    """(n,) the combined score of detector margins and entropies (0..1): higher is less digit."""
    return _terms(margins, entropies) @ np.asarray(weights, np.float64)


def fit_weights(
    digits: tuple[np.ndarray, np.ndarray], non_digits: tuple[np.ndarray, np.ndarray]
) -> list[float]:
    """``combine``'s weights: a logistic fit on (margins, entropies), both classes weighed alike."""
    x = np.concatenate([_terms(*digits), _terms(*non_digits)])
    n_d, n_n = len(digits[0]), len(non_digits[0])
    y = np.r_[np.zeros(n_d), np.ones(n_n)]
    w = np.r_[np.full(n_d, n_n / n_d), np.ones(n_n)]

    def loss(beta: np.ndarray) -> float:
        z = x @ beta
        return float((w * (np.logaddexp(0.0, z) - y * z)).sum())

    return [float(b) for b in minimize(loss, np.array([1.0, 0.0, 0.0])).x]
