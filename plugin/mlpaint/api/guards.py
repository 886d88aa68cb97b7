"""The guard on routes that change state (activate, train, cancel): training servers, same site.

A web page the user visits can send a form or a "simple" request to ``localhost:8000`` without
the user knowing. Such requests either carry an ``Origin`` (or ``Sec-Fetch-Site``) naming
another site, or cannot carry ``Content-Type: application/json`` without a CORS preflight,
which this server never grants. So a state-changing route requires both a JSON content type
and, when the browser says where the request came from, this server's own origin.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from mlpaint.api.errors import APIError
from mlpaint.serving import training_server

View = TypeVar("View", bound=Callable[..., Any])
SAME_SITE_FETCHES = {"same-origin", "none"}  # "none": typed by the user, not sent by a page


def refuse_cross_site() -> None:
    """Raise 403 for a request from another site, 415 for a body that is not JSON."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
        raise APIError(403, f"cross-site request from {origin} refused", {"origin": origin})
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in SAME_SITE_FETCHES:
        raise APIError(403, f"cross-site request ({fetch_site}) refused")
    # A form can only POST; any other body must be JSON too (DELETE carries none).
    has_body = request.method == "POST" or bool(request.get_data(cache=True))
    if has_body and request.mimetype != "application/json":
        raise APIError(
            415,
            "this route changes state and takes Content-Type: application/json only",
            {"content_type": request.content_type},
        )


def state_changing(view: View) -> View:
    """A route that changes state: a training server's, from this site, with a JSON body."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        training_server()  # a read-only server says so first, whoever asks
        refuse_cross_site()
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]
