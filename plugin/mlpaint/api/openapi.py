"""The OpenAPI 3 document of the REST API, served at ``/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from mlpaint import __version__

bp = Blueprint("openapi", __name__, url_prefix="/v1")

PIXELS = {
    "type": "array",
    "items": {"type": "number", "minimum": 0, "maximum": 255},
    "minItems": 784,
    "maxItems": 784,
}
FLOATS_10 = {"type": "array", "items": {"type": "number"}, "minItems": 10, "maxItems": 10}
DIGIT = {"type": "integer", "minimum": 0, "maximum": 9}
INPUT = {
    "type": "object",
    "description": "Exactly one of pixels (28x28 row-major, 0 = paper, 255 = ink) or image.",
    "properties": {
        "pixels": PIXELS,
        "image": {"type": "string", "description": "data:image/png;base64,..."},
    },
}
SCORE = {
    "type": "object",
    "properties": {
        "prediction": DIGIT,
        "runner_up": DIGIT,
        "confidence": {"type": "number"},
        "probabilities": FLOATS_10,
        "scores": FLOATS_10,
        "pixels": PIXELS,
        "model": {"type": "object"},
    },
}
FUNCTION_BODY = {
    "type": "object",
    "required": ["input"],
    "properties": {
        "input": INPUT,
        "model": {"type": "string"},
        "label": DIGIT,
        "all_labels": {"type": "boolean"},
    },
}
ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": "#/components/responses/Error"} for code in codes}


def _param(name: str, where: str, schema: dict[str, Any], required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required, "schema": schema}


def _function(summary: str, output: dict[str, Any]) -> dict[str, Any]:
    body = {"required": True, "content": {"application/json": {"schema": FUNCTION_BODY}}}
    answer = {
        "200": _json({"type": "object", "properties": {"output": output}}),
        **_errors(400, 404, 413, 422),
    }
    get_params = [
        _param("input", "query", {"type": "string"}, True),
        _param("model", "query", {"type": "string"}),
        _param("label", "query", {"type": "string"}),
    ]
    return {
        "post": {"summary": summary, "requestBody": body, "responses": answer},
        "get": {
            "summary": summary + " (input as JSON in the query string)",
            "parameters": get_params,
            "responses": answer,
        },
    }


EXPLANATION = {
    **SCORE,
    "properties": {
        **SCORE["properties"],
        "label": DIGIT,
        "bias": {"type": "number"},
        "score": {"type": "number"},
        "explanation": {**PIXELS, "items": {"type": "number"}},
        "explanations": {"type": "array"},
        "biases": FLOATS_10,
    },
}
NAME = _param("name", "path", {"type": "string"}, True)
# What /v1/digits answers a stored digit with: "output" as the scorer's, or the explainer's.
ANSWER_PARAMS = [
    _param("model", "query", {"type": "string"}),
    _param("explain", "query", {"enum": ["true", "false"]}),
    _param("all_labels", "query", {"enum": ["true", "false"]}),
]

PATHS: dict[str, Any] = {
    "/v1/functions/scorer/application": _function("Score a digit", SCORE),
    "/v1/functions/explainer/application": _function(
        "Explain a digit's score per pixel (SHAP)", EXPLANATION
    ),
    "/v1/query": {
        "get": {
            "summary": "Run one read-only SELECT (the ml_* functions included)",
            "parameters": [
                _param("q", "query", {"type": "string"}, True),
                _param("format", "query", {"enum": ["table", "json", "csv"]}),
                _param("limit", "query", {"type": "integer", "minimum": 1}),
            ],
            "responses": {"200": _json({"type": "array"}), **_errors(400, 403, 408, 413)},
        }
    },
    "/v1/models": {
        "get": {"summary": "List models", "responses": {"200": _json({"type": "object"})}}
    },
    "/v1/models/{name}": {
        "get": {
            "summary": "A model's config, metrics and confusion matrices",
            "parameters": [NAME, _param("version", "query", {"type": "integer"})],
            "responses": {"200": _json({"type": "object"}), **_errors(400, 404)},
        }
    },
    "/v1/models/{name}/activate": {
        "post": {
            "summary": "Make a model the active one (server started with --allow-training)",
            "parameters": [NAME],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"version": {"type": "integer"}}}
                    }
                }
            },
            "responses": {"200": _json({"type": "object"}), **_errors(400, 403, 404)},
        }
    },
    "/v1/digits": {
        "get": {
            "summary": "A stored example by label, fold and offset (or random), with an output",
            "parameters": [
                _param("label", "query", {"type": "integer", "minimum": 0, "maximum": 9}),
                _param("fold", "query", {"enum": ["train", "test"]}),
                _param("offset", "query", {"type": "string"}),
                *ANSWER_PARAMS,
            ],
            "responses": {"200": _json({"type": "object"}), **_errors(400, 404)},
        }
    },
    "/v1/digits/{digit_id}": {
        "get": {
            "summary": "A stored digit by id",
            "parameters": [_param("digit_id", "path", {"type": "integer"}, True), *ANSWER_PARAMS],
            "responses": {"200": _json({"type": "object"}), **_errors(400, 404)},
        }
    },
    "/v1/procedures/{name}": {
        "put": {
            "summary": "Train a model from a JSON experiment config, in the background",
            "parameters": [NAME],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {"202": _json({"type": "object"}, "Started"), **_errors(400, 403, 409)},
        }
    },
    "/v1/procedures/{name}/runs/{run_id}": {
        "get": {
            "summary": "A training run's state, progress and metrics",
            "parameters": [NAME, _param("run_id", "path", {"type": "integer"}, True)],
            "responses": {"200": _json({"type": "object"}), **_errors(404)},
        }
    },
    "/v1/health": {
        "get": {
            "summary": "Liveness and the active model",
            "responses": {"200": _json({"type": "object"})},
        }
    },
    "/v1/openapi.json": {
        "get": {"summary": "This document", "responses": {"200": _json({"type": "object"})}}
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3 document."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "mlpaint",
            "version": __version__,
            "description": "Scoring, SHAP explanations and SQL over MNIST in DuckDB.",
        },
        "paths": PATHS,
        "components": {"responses": {"Error": _json(ERROR, "Error, in the one JSON shape")}},
    }


@bp.get("/openapi.json")
def openapi() -> dict[str, Any]:
    """Serve the OpenAPI document."""
    return document()
