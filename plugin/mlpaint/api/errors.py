"""One JSON error shape for every error: ``{"error": {"status", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("mlpaint")


class APIError(Exception):
    """An error to answer with ``status`` and a message users can act on."""

    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def bad_request(message: str, details: Any = None) -> APIError:
    """A 400 error about the request's content."""
    return APIError(400, message, details)


def error_body(status: int, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape, for the app's answers and for the server's own."""
    return {"error": {"status": status, "message": message, "details": details}}


def error_response(status: int, message: str, details: Any = None) -> tuple[Response, int]:
    """The JSON error body with its status code."""
    return jsonify(error_body(status, message, details)), status


def register_error_handlers(app: Flask) -> None:
    """Answer every error, including Flask's own and unexpected ones, in the JSON shape."""

    @app.errorhandler(APIError)
    def _api_error(exc: APIError) -> tuple[Response, int]:
        return error_response(exc.status, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        response, _ = error_response(status, exc.description or exc.name, {"reason": exc.name})
        # Werkzeug's own headers, such as the Allow that RFC 9110 requires on a 405.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers.add(name, value)
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        # Never a stack trace to the client; the log keeps it for the operator.
        log.exception("unexpected error")
        return error_response(500, "internal error; the server log has the details")
