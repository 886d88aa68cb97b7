"""The paint page: the static files of ``web/`` served at ``/``."""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory

from mlpaint.resources import resource_dir

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> Response:
    """The paint page."""
    return send_from_directory(resource_dir("web"), "index.html")


@bp.get("/<path:filename>")
def static_file(filename: str) -> Response:
    """The page's scripts, styles and icons (404 in the JSON shape for anything else)."""
    return send_from_directory(resource_dir("web"), filename)
