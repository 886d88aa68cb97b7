"""The scorer and explainer functions, MLDB-style: ``/v1/functions/<name>/application``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from mlpaint import scoring
from mlpaint.api import schemas
from mlpaint.api.errors import APIError
from mlpaint.api.inputs import (
    digit_input,
    flag_value,
    json_body,
    known_keys,
    label_value,
    model_name,
    option,
    query_digit,
    query_json,
)
from mlpaint.registry import LoadedModel, ModelNotFoundError
from mlpaint.serving import serving

bp = Blueprint("functions", __name__, url_prefix="/v1/functions")

# The explainer's options, given beside "input" or inside it (MLDB passes every input there).
EXPLAINER_OPTIONS = tuple(schemas.EXPLAINER_OPTIONS)


def request_body(options: tuple[str, ...] = ()) -> dict[str, Any]:
    """The call's body, with no key beyond ``input``, ``model`` and the function's ``options``.

    POST sends it as JSON; GET as ``?input=<JSON>``, ``?model=`` and ``?label=`` (a digit).
    """
    if request.method == "GET":
        body: dict[str, Any] = {"input": query_json("input")}
        if "model" in request.args:
            body["model"] = request.args["model"]
        if "label" in options and "label" in request.args:
            body["label"] = query_digit("label")
        return body
    body = json_body()
    known_keys(body, ["input", "model", *options], "the request body")
    return body


def chosen_model(body: dict[str, Any]) -> LoadedModel:
    """The model the body names, or the active one; 404 when there is none."""
    try:
        return serving().model(model_name(body))
    except ModelNotFoundError as exc:
        raise APIError(404, str(exc)) from exc


@bp.route("/scorer/application", methods=["GET", "POST"])
def scorer() -> dict[str, Any]:
    """Score one digit: the prediction, all ten probabilities and the pixels the model saw."""
    body = request_body()
    return {"output": scoring.answer(chosen_model(body), digit_input(body))}


@bp.route("/explainer/application", methods=["GET", "POST"])
def explainer() -> dict[str, Any]:
    """Explain one digit's score per pixel (SHAP): ``bias + sum(explanation) == score``."""
    body = request_body(EXPLAINER_OPTIONS)
    label = option(body, "label", label_value)
    explain: scoring.Explain = "all" if option(body, "all_labels", flag_value) else True
    loaded = chosen_model(body)
    output = scoring.answer(
        loaded, digit_input(body, EXPLAINER_OPTIONS), explain=explain, label=label
    )
    return {"output": output}
