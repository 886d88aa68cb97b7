"""``GET /v1/health``: is the server up, and which model does it serve."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from mlpaint.serving import serving

bp = Blueprint("health", __name__, url_prefix="/v1")


@bp.get("/health")
def health() -> dict[str, Any]:
    """Liveness, the active model and whether training is accepted."""
    state = serving()
    ref = state.active_ref()
    return {
        "status": "ok",
        "active_model": {"name": ref[0], "version": ref[1]} if ref else None,
        "allow_training": state.allow_training,
    }
