"""The JSON Schemas of the REST API's bodies and answers, for its OpenAPI document."""

from __future__ import annotations

from typing import Any

from mlpaint.pixels import INK, N_CLASSES, N_PIXELS

PIXELS = {
    "type": "array",
    "description": "28x28 row-major, 0 = paper, 255 = ink",
    "items": {"type": "number", "minimum": 0, "maximum": INK},
    "minItems": N_PIXELS,
    "maxItems": N_PIXELS,
}
SEEN_PIXELS = {**PIXELS, "items": {"type": "integer", "minimum": 0, "maximum": INK}}
FLOATS_10 = {
    "type": "array",
    "items": {"type": "number"},
    "minItems": N_CLASSES,
    "maxItems": N_CLASSES,
}
DIGIT = {"type": "integer", "minimum": 0, "maximum": N_CLASSES - 1}
IMAGE = {
    "type": "string",
    "description": "A data URL (data:image/png;base64,...) or bare base64 of an image. Too "
    "large: 413; not an image, or no ink on it: 422.",
}
MODEL_NAME = {"type": "string", "minLength": 1, "description": "absent: the active model"}
MODEL = {**MODEL_NAME, "nullable": True, "description": "absent or null: the active model"}
REF = {
    "type": "object",
    "required": ["name", "version"],
    "properties": {"name": {"type": "string"}, "version": {"type": "integer"}},
}
EXPLAINER_OPTIONS = {
    "label": {
        **DIGIT,
        "nullable": True,
        "description": "The digit to explain; default: the prediction.",
    },
    "all_labels": {"type": "boolean", "nullable": True, "description": "Also explain all ten."},
}
BOTH_PLACES = (
    ' "label" and "all_labels" may be given beside "input" or inside it (MLDB passes every '
    "input of a function inside input); the one beside input wins, null counts as not given."
)


def input_schema(options: dict[str, Any]) -> dict[str, Any]:
    """Exactly one of pixels or image, and ``options``, nothing else."""
    sources = {"pixels": PIXELS, "image": IMAGE}
    return {
        "description": "Exactly one of pixels or image" + (", and the options" * bool(options)),
        "oneOf": [
            {
                "type": "object",
                "required": [key],
                "properties": {key: schema, **options},
                "additionalProperties": False,
            }
            for key, schema in sources.items()
        ],
    }


def call_schema(options: dict[str, Any]) -> dict[str, Any]:
    """A function's POST body: its input, an optional model and its options."""
    return {
        "type": "object",
        "required": ["input"],
        "properties": {"input": input_schema(options), "model": MODEL, **options},
        "additionalProperties": False,
    }


SCORE = {
    "type": "object",
    "required": [
        "prediction",
        "runner_up",
        "confidence",
        "probabilities",
        "scores",
        "uncertainty",
        "is_digit",
        "bag_probabilities",
        "pixels",
    ],
    "properties": {
        "prediction": DIGIT,
        "runner_up": DIGIT,
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "probabilities": FLOATS_10,
        "scores": FLOATS_10,
        "uncertainty": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "How unsure the model is, 0 (sure) .. 1: the entropy of the mean of "
            "the bags' probabilities over log 10 (the bags' disagreement plus their own doubt)",
        },
        "is_digit": {
            "type": "boolean",
            "description": "False when the verdict's score (a learned detector joined with "
            "the uncertainty, or the uncertainty alone for older models) is above the model's "
            "threshold: that does not look like a digit",
        },
        "bag_probabilities": {
            "type": "array",
            "minItems": 1,
            "items": FLOATS_10,
            "description": "Each bag's ten probabilities (the softmax of its own margins)",
        },
        "pixels": {**SEEN_PIXELS, "description": "The 28x28 digit the model saw"},
        "model": REF,
    },
}
EXPLANATION = {
    **SCORE,
    "required": [*SCORE["required"], "label", "explanation", "bias", "score"],
    "properties": {
        **SCORE["properties"],
        "label": DIGIT,
        "bias": {"type": "number"},
        "score": {"type": "number", "description": "bias + sum(explanation)"},
        "explanation": {**PIXELS, "items": {"type": "number"}},
        "explanations": {"type": "array", "items": {**PIXELS, "items": {"type": "number"}}},
        "biases": FLOATS_10,
    },
}
STORED_DIGIT = {
    "type": "object",
    "required": ["id", "label", "pixels", "source", "fold", "output"],
    "properties": {
        "id": {"type": "integer"},
        "label": DIGIT,
        "pixels": SEEN_PIXELS,
        "source": {"type": "string"},
        "fold": {"enum": ["train", "test"]},
        "output": {
            **EXPLANATION,
            "required": SCORE["required"],
            "nullable": True,
            "description": "The scorer's answer (the explainer's with explain or all_labels); "
            "null: no model yet",
        },
    },
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message", "details"],
            "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "details": {"description": "More about the error, or null"},
            },
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}
