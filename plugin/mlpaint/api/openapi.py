"""The OpenAPI 3 document of the REST API, served at ``/v1/openapi.json``.

The document is exact: a request it allows gets no 400 (the SQL of ``/v1/query`` aside, which
only DuckDB can judge), and one it forbids gets a 4xx. tests/test_openapi.py holds the server
to it with schemathesis.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from mlpaint import __version__, training
from mlpaint.api.schemas import (
    BOTH_PLACES,
    DIGIT,
    ERROR,
    EXPLAINER_OPTIONS,
    EXPLANATION,
    MODEL_NAME,
    REF,
    SCORE,
    STORED_DIGIT,
    call_schema,
    input_schema,
)

bp = Blueprint("openapi", __name__, url_prefix="/v1")

ERRORS = {
    400: "The request breaks this document",
    403: "Refused: this server is read-only (start it with --allow-training), the query "
    "writes, or the request comes from another site",
    404: "No such model, digit, run or path",
    408: "The query ran past the time limit",
    409: "A training run is already in progress",
    413: "Too large: the request body, the image, or one row of a query's answer",
    414: "The URL is over the server's limit: POST the input instead",
    503: "Another query is running in this server process: try again",
    415: "A request that changes state must send Content-Type: application/json",
    422: "The request follows this document but its image cannot be used: not an image, or "
    "no ink on it",
}


# gunicorn answers this one itself, before the app sees the request, so in HTML.
def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _json(ERROR, ERRORS.get(code, "Error")) for code in codes}


def _param(name: str, where: str, schema: dict[str, Any], required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required, "schema": schema}


def _function(summary: str, output: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    note = BOTH_PLACES if options else ""
    answer = {
        "200": _json({"type": "object", "required": ["output"], "properties": {"output": output}}),
        **_errors(400, 404, 413, 422),
    }
    get_input = {
        "name": "input",
        "in": "query",
        "required": True,
        "content": {"application/json": {"schema": input_schema(options)}},
    }
    get_params = [get_input, _param("model", "query", MODEL_NAME)]
    if "label" in options:
        get_params.append(_param("label", "query", DIGIT))
    return {
        "post": {
            "summary": summary,
            "description": "Unknown keys are refused (400)." + note,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": call_schema(options)}},
            },
            "responses": answer,
        },
        "get": {
            "summary": summary + " (input as JSON in the query string)",
            "description": "The same call as POST, in the query string." + note,
            "parameters": get_params,
            # gunicorn's own 414, in the error shape: POST the input instead.
            "responses": {**answer, **_errors(414)},
        },
    }


NAME = _param("name", "path", {"type": "string"}, True)
RUN_ID = _param("run_id", "path", {"type": "integer", "minimum": 0}, True)
# A new model's name: training's own pattern, which reads the same in ECMA and Python regexes.
PROCEDURE = _param("name", "path", {"type": "string", "pattern": training._NAME.pattern}, True)
OBJECT = {"type": "object"}
# What /v1/digits answers a stored digit with: "output" as the scorer's, or the explainer's.
ANSWER_PARAMS = [
    _param("model", "query", {"type": "string"}),
    _param("explain", "query", {"enum": ["true", "false"]}),
    _param("all_labels", "query", {"enum": ["true", "false"]}),
]

PATHS: dict[str, Any] = {
    "/v1/functions/scorer/application": _function("Score a digit", SCORE, {}),
    "/v1/functions/explainer/application": _function(
        "Explain a digit's score per pixel (SHAP)", EXPLANATION, EXPLAINER_OPTIONS
    ),
    "/v1/models": {
        "get": {
            "summary": "List models",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["active", "models"],
                        "properties": {
                            "active": {**REF, "nullable": True},
                            "models": {"type": "array", "items": REF},
                        },
                    }
                )
            },
        }
    },
    "/v1/models/{name}": {
        "get": {
            "summary": "A model's config, metrics and confusion matrices",
            "parameters": [NAME, _param("version", "query", {"type": "integer"})],
            "responses": {"200": _json(REF), **_errors(400, 404)},
        }
    },
    "/v1/models/{name}/activate": {
        "post": {
            "summary": "Make a model the active one (server started with --allow-training)",
            "parameters": [NAME],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"version": {"type": "integer", "nullable": True}},
                        }
                    }
                }
            },
            "responses": {
                "200": _json({"type": "object", "properties": {"active": REF}}),
                **_errors(400, 403, 404, 409, 413, 415),
            },
        }
    },
    "/v1/digits": {
        "get": {
            "summary": "A stored example by label, fold and offset (or random), with an output",
            "parameters": [
                _param("label", "query", {**DIGIT, "description": "absent: any label"}),
                _param("fold", "query", {"enum": ["train", "test"], "default": "test"}),
                _param(
                    "offset",
                    "query",
                    {
                        "type": "string",
                        "pattern": "^(random|[0-9]+)$",
                        "default": "0",
                        "description": "A whole number (past the last example: 404) or random",
                    },
                ),
                *ANSWER_PARAMS,
            ],
            "responses": {
                "200": _json(
                    {
                        **STORED_DIGIT,
                        "properties": {
                            **STORED_DIGIT["properties"],
                            "offset": {"type": "integer", "minimum": 0},
                            "count": {"type": "integer", "minimum": 1},
                        },
                    }
                ),
                **_errors(400, 404),
            },
        }
    },
    "/v1/digits/{digit_id}": {
        "get": {
            "summary": "A stored digit by id",
            "parameters": [
                _param("digit_id", "path", {"type": "integer", "minimum": 0}, True),
                *ANSWER_PARAMS,
            ],
            "responses": {"200": _json(STORED_DIGIT), **_errors(400, 404)},
        }
    },
    "/v1/procedures/{name}": {
        "put": {
            "summary": "Train a model from a JSON experiment config, in the background",
            "description": "The config holds the keys of experiments/*.toml; a bad key or "
            "value is a 400 naming it. Needs a server started with --allow-training.",
            "parameters": [PROCEDURE],
            "requestBody": {"required": True, "content": {"application/json": {"schema": OBJECT}}},
            "responses": {
                "202": _json(OBJECT, "Started"),
                **_errors(400, 403, 409, 413, 415),
            },
        }
    },
    "/v1/procedures/{name}/runs/{run_id}": {
        "get": {
            "summary": "A training run's state, progress and metrics",
            "parameters": [NAME, RUN_ID],
            "responses": {"200": _json(OBJECT), **_errors(404)},
        },
        "delete": {
            "summary": "Cancel a running training run: it stops at its next boosting round "
            "and writes nothing; poll the run until its state is cancelled",
            "parameters": [NAME, RUN_ID],
            "responses": {
                "202": _json(OBJECT, "Cancelling: the run, still running"),
                **_errors(403, 404, 409, 415),
            },
        },
    },
    "/v1/health": {
        "get": {
            "summary": "Liveness and the active model",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["status", "active_model", "allow_training"],
                        "properties": {
                            "status": {"enum": ["ok"]},
                            "active_model": {**REF, "nullable": True},
                            "allow_training": {"type": "boolean"},
                        },
                    }
                )
            },
        }
    },
    "/v1/openapi.json": {
        "get": {"summary": "This document", "responses": {"200": _json(OBJECT)}},
    },
}


def _query(config: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/query``, with the row limits of this app."""
    limit = {
        "type": "integer",
        "minimum": 1,
        "maximum": int(config["QUERY_MAX_ROWS"]),
        "default": int(config["QUERY_ROW_LIMIT"]),
    }
    header = {"required": True, "schema": {"type": "integer"}}
    headers = {
        "X-Row-Limit": header,
        "X-Byte-Limit": header,
        "X-Truncated": {"required": True, "schema": {"enum": ["true", "false"]}},
    }
    table = {"schema": {"type": "array"}}
    return {
        "summary": "Run one read-only SELECT (the ml_* functions included)",
        "description": "A 400 also answers SQL that DuckDB cannot parse or bind.",
        "parameters": [
            _param("q", "query", {"type": "string", "pattern": "\\S"}, True),
            _param("format", "query", {"enum": ["table", "json", "csv"], "default": "table"}),
            _param("limit", "query", limit),
        ],
        "responses": {
            "200": {
                "description": "table: [[columns], [row], ...]; json: [{column: value}]; csv",
                "headers": headers,
                "content": {"application/json": table, "text/csv": {"schema": {"type": "string"}}},
            },
            **_errors(400, 403, 408, 413, 414, 503),
        },
    }


def document(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI 3 document for an app's ``config`` (default: the current app's)."""
    config = current_app.config if config is None else config
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "mlpaint",
            "version": __version__,
            "description": "Scoring, SHAP explanations and SQL over MNIST in DuckDB. Errors "
            'have one shape: {"error": {"status", "message", "details"}}. A 405 names the '
            "allowed methods in its Allow header.",
        },
        # /v1/query's limits come from the app's config.
        "paths": {**PATHS, "/v1/query": {"get": _query(config)}},
    }


@bp.get("/openapi.json")
def openapi() -> dict[str, Any]:
    """Serve the OpenAPI document."""
    return document()
