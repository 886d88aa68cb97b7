"""The Flask app factory: the mlpaint plugin's blueprints on a fresh app, or on yours."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask
from flask.json.provider import JSONProvider

from mlpaint.api import digits, functions, health, models, openapi, procedures, query, web
from mlpaint.api.errors import register_error_handlers
from mlpaint.serving import Serving
from mlpaint.sqlrunner import json_default

DEFAULTS: dict[str, Any] = {
    "DATABASE": None,  # None: $MLPAINT_DB or ./mlpaint.duckdb
    "ALLOW_TRAINING": False,
    "QUERY_ROW_LIMIT": 1000,
    "QUERY_MAX_ROWS": 10000,
    "QUERY_TIMEOUT_S": 5.0,
    "QUERY_MAX_BYTES": 32 * 1024 * 1024,  # an answer's body; more rows are cut (X-Truncated)
    "QUERY_MEMORY_LIMIT": "1GB",
    "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,  # a 2 MB image is ~2.7 MB of base64
}
BLUEPRINTS = (functions.bp, query.bp, models.bp, digits.bp, procedures.bp, openapi.bp, health.bp)


class OrjsonProvider(JSONProvider):
    """Fast JSON that writes NumPy arrays and float32 values directly and compactly."""

    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise ``obj`` to a JSON string."""
        return orjson.dumps(obj, default=json_default, option=self.option).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON text."""
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        """A JSON response (used by ``jsonify`` and for returned dicts)."""
        obj = self._prepare_response_obj(args, kwargs)
        body = orjson.dumps(obj, default=json_default, option=self.option)
        return self._app.response_class(body, mimetype="application/json")


def init_app(app: Flask) -> None:
    """Register mlpaint's blueprints, errors and state on ``app`` (the plugin hook)."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.json = OrjsonProvider(app)
    app.extensions["mlpaint"] = Serving(
        app.config["DATABASE"],
        allow_training=bool(app.config["ALLOW_TRAINING"]),
        memory_limit=str(app.config["QUERY_MEMORY_LIMIT"]),
    )
    app.extensions["mlpaint.runs"] = procedures.Runs()
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_error_handlers(app)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the mlpaint app: the REST API under ``/v1`` and the paint page at ``/``."""
    app = Flask("mlpaint", static_folder=None)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    init_app(app)
    app.register_blueprint(web.bp)
    return app
