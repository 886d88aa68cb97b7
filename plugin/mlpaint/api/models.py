"""``/v1/models``: the registry's models, their configs, metrics and confusion matrices."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from mlpaint import registry
from mlpaint.api.errors import APIError, bad_request
from mlpaint.api.guards import state_changing
from mlpaint.api.inputs import json_body
from mlpaint.registry import ModelNotFoundError
from mlpaint.serving import serving, training_server

bp = Blueprint("models", __name__, url_prefix="/v1/models")


def _ref(ref: tuple[str, int] | None) -> dict[str, Any] | None:
    return {"name": ref[0], "version": ref[1]} if ref else None


@bp.get("")
def list_models() -> dict[str, Any]:
    """Every model with its headline metrics, and which one is active."""
    with serving().cursor() as cursor:
        models = registry.list_models(cursor)
    return {"active": _ref(serving().active_ref()), "models": models}


@bp.get("/<name>")
def get_model(name: str) -> dict[str, Any]:
    """One model's config, metrics and confusion matrices (``?version=N``, default newest)."""
    version = _version(request.args.get("version"))
    try:
        with serving().cursor() as cursor:
            info = registry.get_model_info(cursor, name, version)
    except ModelNotFoundError as exc:
        raise APIError(404, str(exc)) from exc
    info["active"] = serving().active_ref() == (info["name"], info["version"])
    return info


@bp.post("/<name>/activate")
@state_changing
def activate(name: str) -> dict[str, Any]:
    """Make ``name`` (``{"version": N}``, default newest) the active model; needs training mode."""
    state = training_server()
    body = json_body() if request.get_data() else {}
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise bad_request('"version" must be a whole number')
    try:
        with state.cursor() as cursor:
            ref = registry.activate(cursor, name, version)
    except ModelNotFoundError as exc:
        raise APIError(404, str(exc)) from exc
    except registry.UnservableModelError as exc:
        raise APIError(409, str(exc)) from exc
    state.refresh()
    return {"active": _ref(ref)}


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise bad_request("version must be a whole number") from exc
