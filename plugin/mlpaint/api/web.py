"""The paint page: the static files of ``web/`` served at ``/``."""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from mlpaint.resources import resource_dir

bp = Blueprint("web", __name__)


class WebFileConverter(PathConverter):
    """A file path outside ``/v1``: the API's paths answer 404 or 405 there, not the page's GET."""

    regex = r"(?!v1(?:/|$))[^/].*?"


@bp.record_once
def _add_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["webfile"] = WebFileConverter


@bp.get("/")
def index() -> Response:
    """The paint page."""
    return send_from_directory(resource_dir("web"), "index.html")


@bp.get("/<webfile:filename>")
def static_file(filename: str) -> Response:
    """The page's scripts, styles and icons (404 in the JSON shape for anything else)."""
    return send_from_directory(resource_dir("web"), filename)
