"""One way from checked digits to answers, for the REST API, the SQL functions and the page.

``answer`` turns one digit into the scorer's (and, asked to explain, the explainer's) output;
the batch functions give the SQL functions the same numbers for many rows. Nothing here knows
about Flask or DuckDB, and nothing outside reaches into the model's boosters.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from mlpaint.explain import bias as shap_bias
from mlpaint.explain import explain as tree_shap
from mlpaint.model import softmax
from mlpaint.registry import LoadedModel

Explain = bool | Literal["all"]


def answer(
    loaded: LoadedModel, pixels: np.ndarray, *, explain: Explain = False, label: int | None = None
) -> dict[str, Any]:
    """The answer for one checked (784,) uint8 digit; ``explain="all"`` explains every digit.

    Keys: prediction, runner_up, confidence, probabilities, scores, pixels (what the model saw),
    model; with ``explain`` also label (default the prediction), explanation, bias and score of
    that label; with ``"all"`` also explanations (10, 784) and biases (10,).
    """
    seen = loaded.model.prepare(pixels)  # (1, 784), deskewed when the model says so
    output = _verdict(loaded.model.scores(seen, prepared=True)[0])
    output["pixels"] = seen[0]
    output["model"] = {"name": loaded.name, "version": loaded.version}
    if explain:
        output.update(_explained(loaded, seen, output, label, explain == "all"))
    return output


def uncertainty(probabilities: np.ndarray) -> float:
    """How unsure the model is about one digit's ten probabilities, 0..1 (see ``uncertainties``)."""
    return float(uncertainties(np.asarray(probabilities)[None, :])[0])


def uncertainties(probabilities: np.ndarray) -> np.ndarray:
    """(n,) float64: the entropy of each row's ten probabilities over log 10, 0..1.

    0 means all the probability is on one digit, 1 means it is spread evenly over the ten. This
    is the one place uncertainty is measured: swap it for the disagreement between
    bags once the model reports that.
    """
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    logs = np.log(np.where(p > 0, p, 1.0))
    return np.clip(-(p * logs).sum(axis=-1) / math.log(p.shape[-1]), 0.0, 1.0)


def _verdict(scores: np.ndarray) -> dict[str, Any]:
    """Everything one row's ten scores say; per-row measures (issue 11's uncertainty) go here."""
    probabilities = softmax(scores)
    first, second = np.argsort(-scores, kind="stable")[:2]
    return {
        "prediction": int(first),
        "runner_up": int(second),
        "confidence": float(probabilities[first]),
        "probabilities": probabilities,
        "scores": scores,
    }


def _explained(
    loaded: LoadedModel,
    seen: np.ndarray,
    output: dict[str, Any],
    label: int | None,
    all_labels: bool,
) -> dict[str, Any]:
    """The explanation of one label's score (``bias + sum(explanation) == score``)."""
    explanation = tree_shap(loaded.model, seen, prepared=True)
    label = output["prediction"] if label is None else label
    extra: dict[str, Any] = {
        "label": label,
        "explanation": explanation.values[0, label],
        "bias": float(explanation.bias[label]),
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


def uncertainties_of(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """(n,) float64 uncertainty of (n, 784) pixels, 0 (sure) .. 1."""
    return uncertainties(probabilities(loaded, pixels))


def explanations(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """(n, 10, 784) float32 SHAP values of (n, 784) pixels, for every digit."""
    return tree_shap(loaded.model, pixels).values


def bias(loaded: LoadedModel) -> np.ndarray:
    """(10,) float32: the SHAP base value per digit, where every explanation starts."""
    return shap_bias(loaded.model)
