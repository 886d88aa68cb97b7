"""Reading and checking request bodies: JSON, the digit input (pixels or image), labels."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import orjson
from flask import request

from mlpaint import images
from mlpaint.api.errors import APIError, bad_request
from mlpaint.pixels import INK, N_PIXELS

NUMBER_TYPES = {int, float}  # bool is a subclass of int, but not a pixel value


def json_body() -> dict[str, Any]:
    """The request's JSON object body (POST/PUT), or 400."""
    body = parse_json(request.get_data(cache=True), "the request body")
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def query_json(name: str) -> Any:
    """A JSON value passed in the query string (``?input=...``), or 400."""
    text = request.args.get(name)
    if text is None:
        raise bad_request(f"missing query parameter {name!r}")
    return parse_json(text, f"query parameter {name!r}")


def parse_json(text: str | bytes, what: str) -> Any:
    """Strict JSON (NaN and Infinity are not JSON), or 400 naming ``what``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"{what} is not valid JSON: {exc}") from exc


def known_keys(given: dict[str, Any], allowed: Collection[str], where: str) -> None:
    """400 naming the keys of ``given`` that are not ``allowed``."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise bad_request(
            f"{where} has unknown keys {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(map(repr, allowed))}",
            {"unknown": unknown},
        )


def digit_input(body: dict[str, Any], options: Collection[str] = ()) -> np.ndarray:
    """The (784,) uint8 pixels from ``{"input": {"pixels": [...]}}`` or ``{"image": ...}``.

    ``input`` may also hold the function's ``options`` (MLDB passes every input there).
    """
    given = body.get("input")
    if not isinstance(given, dict):
        raise bad_request(
            'expected {"input": {"pixels": [784 numbers]}} or {"input": {"image": '
            '"data:image/png;base64,..."}}'
        )
    sources = set(given) & {"pixels", "image"}
    if len(sources) != 1:
        raise bad_request(
            '"input" must hold exactly one of "pixels" or "image"', {"keys": sorted(given)}
        )
    known_keys(given, [*sources, *options], '"input"')
    if "pixels" in given:
        return pixels_from_list(given["pixels"])
    return pixels_from_image(given["image"])


def option(body: dict[str, Any], name: str, check: Callable[[Any, str], Any]) -> Any:
    """An option beside ``input`` or inside it (MLDB's way): both checked, the one beside wins.

    Null counts as not given, so ``{"label": null, "input": {..., "label": 3}}`` means 3.
    """
    given = body.get("input")
    inside = check(given.get(name), name) if isinstance(given, dict) else None
    beside = check(body.get(name), name)
    return inside if beside is None else beside


def pixels_from_list(values: Any) -> np.ndarray:
    """Check a list of 784 numbers 0..255 and return it as uint8."""
    if not isinstance(values, list):
        raise bad_request('"pixels" must be a list of 784 numbers')
    if len(values) != N_PIXELS:
        raise bad_request(
            f'"pixels" must hold 784 numbers, got {len(values)}', {"length": len(values)}
        )
    # Checking types with set(map(type, ...)) and ranges in NumPy keeps this off the hot path.
    if not set(map(type, values)) <= NUMBER_TYPES:
        index = next(i for i, v in enumerate(values) if type(v) not in NUMBER_TYPES)
        raise bad_request(f'"pixels"[{index}] is not a number', {"index": index})
    array = np.asarray(values, dtype=np.float64)
    outside = (array < 0) | (array > INK)
    if outside.any():
        index = int(np.argmax(outside))
        raise bad_request(
            f'"pixels"[{index}] = {values[index]} is outside 0..255', {"index": index}
        )
    return np.rint(array).astype(np.uint8)


def pixels_from_image(data_url: Any) -> np.ndarray:
    """Decode and normalise a canvas snapshot MNIST-style."""
    if not isinstance(data_url, str):
        raise bad_request('"image" must be a data URL string (data:image/png;base64,...)')
    try:
        return images.image_to_pixels(images.decode_data_url(data_url))
    except images.ImageTooLargeError as exc:
        raise APIError(413, str(exc)) from exc
    except images.ImageError as exc:
        # The request has the documented shape; its image cannot be used (the one 422).
        raise APIError(422, str(exc)) from exc


def label_value(value: Any, name: str = "label") -> int | None:
    """An optional digit 0..9 (null: none), or 400; 3.0 is 3, as JSON Schema counts integers."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
        raise bad_request(f'"{name}" must be a digit 0..9, got {value!r}')
    return value


def flag_value(value: Any, name: str) -> bool | None:
    """An optional true or false (null: not given), or 400."""
    if value is not None and not isinstance(value, bool):
        raise bad_request(f'"{name}" must be true or false, got {value!r}')
    return value


def query_digit(name: str) -> int | None:
    """An optional digit 0..9 in the query string, exactly one ASCII digit, or 400."""
    text = request.args.get(name)
    if text is None:
        return None
    if len(text) != 1 or text not in "0123456789":
        raise bad_request(f"{name} must be a digit 0..9, got {text!r}")
    return int(text)


def model_name(body: dict[str, Any]) -> str | None:
    """An optional model name from the body, or 400."""
    name = body.get("model")
    if name is not None and (not isinstance(name, str) or not name):
        raise bad_request('"model" must be a model name (a string)')
    return name
