"""Is it a digit? The ensemble's uncertainty signals, the verdict's score and its threshold.

Every signal is computed from the bags' raw margins, shape (n, bags, 10), and grows the less the
input looks like a digit the model knows:

- ``mutual_information``: the bags' disagreement, H(mean of the bag probabilities) minus the mean
  of the bags' entropies, over log 10 (0..1). With one bag it is 0.
- ``entropy``: H(mean of the bag probabilities) over log 10 (0..1): the total uncertainty, the
  bags' disagreement plus what every bag is unsure of. With one bag it is the entropy of the
  served probabilities.
- ``top_probability``: 1 minus the served top probability (the softmax of the mean margin).
- ``max_margin``: minus the largest mean raw margin.

The verdict's score (``SCORE``, "combined"; chosen by measurement, see the README) joins the
entropy with a learned detector (``mlpaint.detector``: a small booster on the pixels the model
sees, trained on training digits against training non-digits): ``w0 * detector margin + w1 *
logit(entropy) + w2``, the weights a logistic fit on the validation halves. A digit is "not a
digit" when its score is above the model's threshold. The weights and the threshold are chosen
at training time (:func:`evaluate`) on a validation half of the test fold's digits and of the
non-digit set, both through the image path, and reported on the other half (:func:`choose`).
A model without a detector (trained before it, or without training rows) keeps the entropy-only
rule: its stored threshold, or ``DEFAULT_THRESHOLD``.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.stats import rankdata

from mlpaint import detector
from mlpaint.model import softmax
from mlpaint.pixels import N_CLASSES

SCORE = "combined"
ENTROPY = "entropy"  # the rule of models without a detector
# Share of validation digits the threshold may call "not a digit" (issue 11's bar: at most 1%).
FALSE_NON_DIGIT_RATE = 0.005
# A model trained before the verdict existed carries no threshold: this one (the entropy of the
# served probabilities, 0..1) was measured on the shipped default (full-default-v1, bags = 1).
DEFAULT_THRESHOLD = 0.16
# Test-fold digits captured per half at training time, about 13 ms each through the image path,
# and the size of the non-digit set (``mlpaint.nondigits.SIZE``). The detector learns from
# DETECTOR_CAPTURED training digits captured (about 23 ms each), DETECTOR_DIRECT as they are, and
# DETECTOR_NON_DIGITS training non-digits (about 15 ms each): more of the last two measurably
# helps, these keep the whole step near 60 s on 2 cores. MLPAINT_VERDICT_SAMPLE=n sets all smaller
# (the test suite's tiny models: n digits per half, 2n non-digits; n, 5n and 2n for the detector).
DIGITS_PER_SPLIT = 1000
DETECTOR_CAPTURED, DETECTOR_DIRECT, DETECTOR_NON_DIGITS = 400, 3000, 600
SAMPLE_ENV = "MLPAINT_VERDICT_SAMPLE"


@dataclass(frozen=True)
class Sizes:
    """How many images the training-time verdict reads and learns from."""

    per_half: int
    non_digits: int
    captured: int
    direct: int
    detector_non_digits: int


def _sample_sizes() -> Sizes:
    """The sizes for the training-time verdict (smaller with ``MLPAINT_VERDICT_SAMPLE``)."""
    from mlpaint import nondigits

    n = int(os.environ.get(SAMPLE_ENV) or 0)
    if n > 0:
        return Sizes(n, 2 * n, n, 5 * n, 2 * n)
    return Sizes(
        DIGITS_PER_SPLIT, nondigits.SIZE, DETECTOR_CAPTURED, DETECTOR_DIRECT, DETECTOR_NON_DIGITS
    )


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy along the last axis over log 10, 0..1."""
    logs = np.log(np.where(p > 0, p, 1.0))
    return np.clip(-(p * logs).sum(axis=-1) / math.log(N_CLASSES), 0.0, 1.0)


def mutual_information(bag_probabilities: np.ndarray) -> np.ndarray:
    """(n,) the bags' disagreement over log 10, 0..1, from (n, bags, 10) probabilities."""
    p = np.clip(np.asarray(bag_probabilities, dtype=np.float64), 0.0, 1.0)
    return np.clip(_entropy(p.mean(axis=1)) - _entropy(p).mean(axis=1), 0.0, 1.0)


def entropy(bag_probabilities: np.ndarray) -> np.ndarray:
    """(n,) entropy of the mean of (n, bags, 10) probabilities over log 10, 0..1."""
    return _entropy(np.clip(np.asarray(bag_probabilities, np.float64), 0.0, 1.0).mean(axis=1))


SIGNALS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mutual_information": lambda s: mutual_information(softmax(s)),
    "entropy": lambda s: entropy(softmax(s)),
    "top_probability": lambda s: 1.0 - softmax(s.mean(axis=1)).max(axis=-1),
    "max_margin": lambda s: -s.astype(np.float64).mean(axis=1).max(axis=-1),
}


def _rule(model: Any) -> dict[str, Any] | None:
    """The model's stored rule when this release knows its score, else None."""
    rule = getattr(model, "verdict", None)
    return rule if rule is not None and rule.get("score") in (SCORE, ENTROPY) else None


def threshold_of(model: Any) -> float:
    """The model's threshold on its verdict score (``DEFAULT_THRESHOLD`` for an older model)."""
    rule = _rule(model)
    return DEFAULT_THRESHOLD if rule is None else float(rule["threshold"])


def score(bag_scores: np.ndarray) -> np.ndarray:
    """(n,) the entropy-only score from (n, bags, 10) raw margins: higher is less like a digit."""
    return SIGNALS[ENTROPY](np.asarray(bag_scores))


def scores_of(model: Any, prepared: np.ndarray, bag_scores: np.ndarray) -> np.ndarray:
    """(n,) the verdict score of prepared (n, 784) pixels with their (n, bags, 10) margins."""
    entropies = score(bag_scores)
    rule = _rule(model)
    if rule is None or rule["score"] != SCORE:
        return entropies
    threads = model.spec.num_threads
    margins = detector.margins(rule["detector"], prepared, threads)
    return detector.combine(margins, entropies, rule["weights"])


def is_digit(model: Any, prepared: np.ndarray, bag_scores: np.ndarray) -> np.ndarray:
    """(n,) bool: the verdict, the score at or below the model's threshold."""
    return scores_of(model, prepared, bag_scores) <= threshold_of(model)


def auroc(digits: np.ndarray, non_digits: np.ndarray) -> float:
    """P(a non-digit scores above a digit), ties counting half (the Mann-Whitney statistic)."""
    ranks = rankdata(np.concatenate([digits, non_digits]))  # ties share their mean rank
    n_d, n_n = len(digits), len(non_digits)
    return float((ranks[n_d:].sum() - n_n * (n_n + 1) / 2) / (n_d * n_n))


def threshold_for(digits: np.ndarray, rate: float = FALSE_NON_DIGIT_RATE) -> float:
    """The smallest threshold that calls at most ``rate`` of these digits "not a digit"."""
    ordered = np.sort(np.asarray(digits, dtype=np.float64))
    keep = math.ceil(len(ordered) * (1.0 - rate))  # digits at or below the threshold
    return float(ordered[min(max(keep, 1), len(ordered)) - 1])


def rates(digits: np.ndarray, non_digits: np.ndarray, threshold: float) -> dict[str, float]:
    """How a threshold splits one set of digit scores and one of non-digit scores."""
    return {
        "auroc": auroc(digits, non_digits),
        "false_non_digit_rate": float((digits > threshold).mean()),
        "detection_rate": float((non_digits > threshold).mean()),
        "digits": len(digits),
        "non_digits": len(non_digits),
    }


def halves(n: int) -> np.ndarray:
    """True for the validation half: a hash of the index (crc32, even), the rest is test."""
    return np.array([zlib.crc32(i.to_bytes(4, "little")) % 2 == 0 for i in range(n)], bool)


@dataclass(frozen=True)
class Choice:
    """A threshold chosen on validation scores, with the figures of both halves."""

    threshold: float
    validation: dict[str, float]
    test: dict[str, float]
    score: str = SCORE

    def to_dict(self) -> dict[str, Any]:
        """The metrics JSON's ``"not_digit"`` entry."""
        return {
            "score": self.score,
            "threshold": self.threshold,
            "rule": f"at most {FALSE_NON_DIGIT_RATE:.1%} of validation digits above it",
            "validation": self.validation,
            "test": self.test,
        }


def choose(digit_scores: np.ndarray, non_digit_scores: np.ndarray, name: str = SCORE) -> Choice:
    """Pick the threshold on the validation halves; report both halves."""
    d_val, n_val = halves(len(digit_scores)), halves(len(non_digit_scores))
    threshold = threshold_for(digit_scores[d_val])
    return Choice(
        threshold,
        rates(digit_scores[d_val], non_digit_scores[n_val], threshold),
        rates(digit_scores[~d_val], non_digit_scores[~n_val], threshold),
        name,
    )


def through_image_path(
    digits: np.ndarray, ids: np.ndarray, kind: str = "canvas", workers: int = 1
) -> np.ndarray:
    """(n, 784): what the REST image input makes of each digit captured as ``kind`` (by id)."""
    from mlpaint import readback

    return readback.captured([kind] * len(digits), digits, np.asarray(ids), workers)


@lru_cache(maxsize=2)
def non_digit_pixels(n: int | None = None, workers: int = 1) -> np.ndarray:
    """(n, 784): the non-digit set (``mlpaint.nondigits``) through the image path, minus blanks."""
    from mlpaint import nondigits, readback

    encoded = [data for _, data in nondigits.make(nondigits.SIZE if n is None else n)]
    out = readback.accepted(encoded, workers)  # blanks are refused: the scorer answers 422
    out.setflags(write=False)
    return out


def agreement(bag_scores: np.ndarray) -> dict[str, float]:
    """How a model's bags agree on (n, bags, 10) margins: for the metrics and the model panel."""
    tops = bag_scores.argmax(axis=-1)  # (n, bags)
    return {
        "bags": int(bag_scores.shape[1]),
        "all_agree": float((tops == tops[:, :1]).all(axis=1).mean()),
        "mean_disagreement": float(mutual_information(softmax(bag_scores)).mean()),
        "mean_uncertainty": float(entropy(softmax(bag_scores)).mean()),
    }


def evaluate(
    model: Any,
    pixels: np.ndarray,
    ids: np.ndarray | None,
    training: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> dict[str, Any]:
    """Train the detector, choose the weights and threshold, set ``model.verdict``; the metrics.

    ``pixels`` are the test fold's digits: every one gives the bags' agreement; up to
    2 x ``DIGITS_PER_SPLIT`` of them (evenly spread), captured on a canvas and read through the
    image path, against the non-digit set give the weights and threshold (validation half) and
    their figures (test half). ``training`` (pixels, ids) are the model's training digits, which
    the detector learns from; without them the rule is the entropy's alone.
    """
    ids = np.arange(len(pixels)) if ids is None else np.asarray(ids)
    figures: dict[str, Any] = {"bags": agreement(model.bag_scores(pixels))}
    sizes = _sample_sizes()
    step = max(1, math.ceil(len(pixels) / (2 * sizes.per_half)))
    workers = model.spec.num_threads
    digits = model.prepare(through_image_path(pixels[::step], ids[::step], workers=workers))
    others = model.prepare(non_digit_pixels(sizes.non_digits, workers))
    d_ent = score(model.bag_scores(digits, prepared=True))
    n_ent = score(model.bag_scores(others, prepared=True))
    if training is None:
        choice = choose(d_ent, n_ent, ENTROPY)
        model.verdict = {"score": ENTROPY, "threshold": choice.threshold}
        figures["not_digit"] = choice.to_dict()
        return figures
    text = detector.train(model, *training, sizes.captured, sizes.direct, sizes.detector_non_digits)
    threads = model.spec.num_threads
    d_det, n_det = detector.margins(text, digits, threads), detector.margins(text, others, threads)
    d_val, n_val = halves(len(digits)), halves(len(others))
    weights = detector.fit_weights((d_det[d_val], d_ent[d_val]), (n_det[n_val], n_ent[n_val]))
    choice = choose(
        detector.combine(d_det, d_ent, weights), detector.combine(n_det, n_ent, weights)
    )
    model.verdict = {"score": SCORE, "threshold": choice.threshold, "weights": weights}
    model.verdict["detector"] = text
    figures["not_digit"] = choice.to_dict() | {
        "weights": weights,
        "test_auroc_alone": {  # what each part alone makes of the test halves
            ENTROPY: auroc(d_ent[~d_val], n_ent[~n_val]),
            "detector": auroc(d_det[~d_val], n_det[~n_val]),
        },
    }
    return figures
