"""The scorer and explainer functions, MLDB-style: ``/v1/functions/<name>/application``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from mlpaint import scoring
from mlpaint.api.errors import APIError
from mlpaint.api.inputs import digit_input, json_body, label_value, model_name, query_json
from mlpaint.registry import LoadedModel, ModelNotFoundError
from mlpaint.serving import Serving

bp = Blueprint("functions", __name__, url_prefix="/v1/functions")


def serving() -> Serving:
    """The app's shared server state."""
    return current_app.extensions["mlpaint"]


def training_server() -> Serving:
    """The server state when it accepts writes (training, activation); else 403."""
    state = serving()
    try:
        state.require_training()
    except PermissionError as exc:
        raise APIError(403, str(exc)) from exc
    return state


def request_body() -> dict[str, Any]:
    """The call's body: JSON for POST, ``?input=<JSON>`` (and ``?model=``) for GET."""
    if request.method == "GET":
        body: dict[str, Any] = {"input": query_json("input")}
        for key in ("model", "label"):
            if key in request.args:
                body[key] = request.args[key] if key == "model" else query_json(key)
        return body
    return json_body()


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
    body = request_body()
    label = label_value(body.get("label"))
    all_labels = body.get("all_labels", False)
    if not isinstance(all_labels, bool):
        raise APIError(400, '"all_labels" must be true or false')
    explain: scoring.Explain = "all" if all_labels else True
    output = scoring.answer(chosen_model(body), digit_input(body), explain=explain, label=label)
    return {"output": output}
