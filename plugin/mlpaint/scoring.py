"""One way from checked digits to answers, for the REST API, the SQL functions and the page.

``answer`` turns one digit into the scorer's (and, asked to explain, the explainer's) output;
the batch functions give the SQL functions the same numbers for many rows. Nothing here knows
about Flask or DuckDB, and nothing outside reaches into the model's boosters.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from mlpaint import verdict
from mlpaint.explain import bias as shap_bias
from mlpaint.explain import explain as tree_shap
from mlpaint.explain import explain_labels
from mlpaint.model import softmax
from mlpaint.registry import LoadedModel

Explain = bool | Literal["all"]


def answer(
    loaded: LoadedModel, pixels: np.ndarray, *, explain: Explain = False, label: int | None = None
) -> dict[str, Any]:
    """The answer for one checked (784,) uint8 digit; ``explain="all"`` explains every digit.

    Keys: prediction, runner_up, confidence, probabilities, scores, uncertainty, is_digit,
    bag_probabilities (bags, 10), pixels (what the model saw), model; with ``explain`` also label
    (default the prediction), explanation, bias and score of that label; with ``"all"`` also
    explanations (10, 784) and biases (10,).
    """
    seen = loaded.model.prepare(pixels)  # (1, 784), deskewed when the model says so
    model = loaded.model
    served, bag_scores = model.margins(seen, prepared=True)
    says_digit = bool(verdict.is_digit(model, seen, bag_scores)[0])
    output = _verdict(served[0], bag_scores[0], says_digit)
    output["pixels"] = seen[0]
    output["model"] = {"name": loaded.name, "version": loaded.version}
    if explain:
        output.update(_explained(loaded, seen, output, label, explain == "all"))
    return output


def uncertainty(probabilities: np.ndarray) -> float:
    """How unsure the model is about one digit, 0..1 (see ``uncertainties``).

    ``probabilities`` is (bags, 10), each bag's probabilities, or (10,) for a single booster.
    """
    p = np.asarray(probabilities)
    return float(uncertainties(p.reshape(1, -1, p.shape[-1]))[0])


def uncertainties(bag_probabilities: np.ndarray) -> np.ndarray:
    """(n,) float64 uncertainty, 0..1, of (n, bags, 10) per-bag probabilities.

    The one place uncertainty is measured, for every surface (REST, SQL, page, notebook, the
    verdict): the entropy of the mean of the bags' probabilities over log 10. It is the bags'
    disagreement (their mutual information, ``verdict.mutual_information``) plus the mean of the
    bags' own entropies, so it stays informative with one bag, where the disagreement is 0. With
    one bag it is the entropy of the served probabilities (the softmax of the mean margin); with
    several, the mean of the bag probabilities (not the softmax of the mean margin), which is what
    makes the decomposition hold. 0: every bag puts all the probability on one digit; 1: spread
    evenly over the ten. ``mlpaint.verdict`` says why this and not another signal (measured).
    """
    return verdict.entropy(bag_probabilities)


def _verdict(scores: np.ndarray, bag_scores: np.ndarray, says_digit: bool) -> dict[str, Any]:
    """Everything one row's ten scores (and its bags' (bags, 10) scores) say, and the verdict."""
    probabilities = softmax(scores)
    bag_probabilities = softmax(bag_scores)
    first, second = np.argsort(-scores, kind="stable")[:2]
    doubt = uncertainty(bag_probabilities)
    return {
        "prediction": int(first),
        "runner_up": int(second),
        "confidence": float(probabilities[first]),
        "probabilities": probabilities,
        "scores": scores,
        "uncertainty": doubt,
        "is_digit": says_digit,
        "bag_probabilities": bag_probabilities,
    }


def _explained(
    loaded: LoadedModel,
    seen: np.ndarray,
    output: dict[str, Any],
    label: int | None,
    all_labels: bool,
) -> dict[str, Any]:
    """The explanation of one label's score (``bias + sum(explanation) == score``)."""
    label = output["prediction"] if label is None else label
    if all_labels:
        explanation = tree_shap(loaded.model, seen, prepared=True)
        values, biases = explanation.values[:, label], explanation.bias[[label]]
    else:  # that digit's trees alone: a tenth of the work
        values, biases = explain_labels(loaded.model, seen, [label], prepared=True)
    extra: dict[str, Any] = {
        "label": label,
        "explanation": values[0],
        "bias": float(biases[0]),
        "score": float(output["scores"][label]),
    }
    if all_labels:
        extra.update(explanations=explanation.values[0], biases=explanation.bias)
    return extra


def scores(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """(n, 10) float32 raw scores of (n, 784) pixels."""
    return loaded.model.scores(pixels)


def probabilities(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """(n, 10) float32 probabilities: the softmax of the scores."""
    return softmax(scores(loaded, pixels))


def predictions(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """(n,) uint8: the digit with the highest score (the first on a tie, as in ``answer``)."""
    return scores(loaded, pixels).argmax(axis=1).astype(np.uint8)


def bag_probabilities(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """(n, bags, 10) float32: each bag's probabilities (the softmax of its raw margins)."""
    return loaded.model.bag_probabilities(pixels)


def uncertainties_of(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """(n,) float64 uncertainty of (n, 784) pixels, 0 (sure) .. 1."""
    return uncertainties(bag_probabilities(loaded, pixels))


def is_digit(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """(n,) bool: the verdict (``mlpaint.verdict``), its score at or below the model's threshold."""
    model = loaded.model
    seen = model.prepare(pixels)
    return verdict.is_digit(model, seen, model.bag_scores(seen, prepared=True))


def explanations(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """(n, 10, 784) float32 SHAP values of (n, 784) pixels, for every digit."""
    return tree_shap(loaded.model, pixels).values


def label_explanations(loaded: LoadedModel, pixels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n, 784) float32 SHAP values of (n, 784) pixels, each for its row's digit in ``labels``."""
    return explain_labels(loaded.model, pixels, labels)[0]


def bias(loaded: LoadedModel) -> np.ndarray:
    """(10,) float32: the SHAP base value per digit, where every explanation starts."""
    return shap_bias(loaded.model)
