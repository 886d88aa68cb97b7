"""``GET /v1/query``: read-only SQL over the database, with the ml_* functions, safely bounded.

Every limit holds for every query, the ml_* functions included: one statement that only reads
(checked on DuckDB's plan, and run in a transaction that is always rolled back), a time limit,
a row limit, a byte limit on the answer, and DuckDB's memory limit while it is built.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import duckdb
from flask import Blueprint, Response, current_app, request

from mlpaint import sqlfunctions, sqlguard
from mlpaint.api.errors import APIError, bad_request
from mlpaint.resultjson import Rendered, render
from mlpaint.serving import serving

bp = Blueprint("query", __name__, url_prefix="/v1")

FORMATS = ("table", "json", "csv")
MIMETYPES = {"table": "application/json", "json": "application/json", "csv": "text/csv"}


@bp.get("/query")
def query() -> Any:
    """Run one SELECT; ``format`` table (MLDB's ``[[columns], [row]...]``), json or csv."""
    sql = request.args.get("q", "").strip()
    fmt = request.args.get("format", "table")
    if not sql:
        raise bad_request("missing query parameter 'q' (the SQL to run)")
    if fmt not in FORMATS:
        raise bad_request(f"format must be one of {', '.join(FORMATS)}")
    limit = row_limit(request.args.get("limit"))
    rendered = run_bounded(single_select(sql), fmt, limit)
    headers = {
        "X-Row-Limit": str(limit),
        "X-Byte-Limit": str(byte_limit()),
        "X-Truncated": str(rendered.truncated).lower(),
    }
    return Response(rendered.body, mimetype=MIMETYPES[fmt], headers=headers)


def row_limit(text: str | None) -> int:
    """The ``limit`` parameter: default and cap come from the app config."""
    config = current_app.config
    if text is None:
        return int(config["QUERY_ROW_LIMIT"])
    try:
        limit = int(text)
    except ValueError as exc:
        raise bad_request("limit must be a whole number") from exc
    cap = int(config["QUERY_MAX_ROWS"])
    if not 1 <= limit <= cap:
        raise bad_request(f"limit must lie in 1..{cap}", {"cap": cap})
    return limit


def byte_limit() -> int:
    """The most bytes one answer may carry."""
    return int(current_app.config["QUERY_MAX_BYTES"])


def single_select(sql: str) -> str:
    """Parse ``sql`` and return it if it is exactly one SELECT statement; else 400 or 403."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise bad_request(str(exc), {"kind": type(exc).__name__}) from exc
    if len(statements) != 1:
        raise bad_request(f"send exactly one statement, got {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = statements[0].type.name
        raise APIError(403, f"read-only endpoint: only SELECT queries run here, not {kind}")
    # A trailing comment must not swallow what DuckDB appends when it plans the statement.
    return statements[0].query.rstrip().removesuffix(";") + "\n"


def run_bounded(sql: str, fmt: str, limit: int) -> Rendered:
    """Check and run a query within the time limit, on a cursor of its own, rolled back."""
    seconds = float(current_app.config["QUERY_TIMEOUT_S"])
    deadline = time.monotonic() + seconds
    try:
        with sqlfunctions.time_limit(deadline), serving().cursor() as cursor:
            timer = threading.Timer(max(0.0, deadline - time.monotonic()), cursor.interrupt)
            timer.start()
            try:
                return _checked_and_rendered(cursor, sql, fmt, limit)
            finally:
                timer.cancel()
    except sqlfunctions.QueryBusyError as exc:
        raise APIError(503, str(exc)) from exc
    except (duckdb.InterruptException, sqlfunctions.QueryTimeoutError) as exc:
        raise _timeout(seconds) from exc
    except duckdb.Error as exc:
        if time.monotonic() >= deadline:  # an ml_* function stopped at the deadline
            raise _timeout(seconds) from exc
        raise _duckdb_error(exc) from exc


def _checked_and_rendered(
    cursor: duckdb.DuckDBPyConnection, sql: str, fmt: str, limit: int
) -> Rendered:
    try:
        sqlguard.check_read_only(cursor, sql)
    except sqlguard.UnsafeSQLError as exc:
        raise APIError(403, str(exc)) from exc
    with sqlguard.rolled_back(cursor):
        rendered = render(cursor.sql(sql), fmt, limit, byte_limit())
    if rendered is None:
        limit_mb = byte_limit() / 1e6
        raise APIError(413, f"one row of the answer is over the {limit_mb:g} MB answer limit")
    return rendered


def _timeout(seconds: float) -> APIError:
    return APIError(408, f"the query ran longer than {seconds:g} s and was stopped")


def _duckdb_error(exc: duckdb.Error) -> APIError:
    if isinstance(exc, duckdb.OutOfMemoryException):
        return APIError(413, f"the query needs more memory than allowed: {exc}")
    return bad_request(str(exc), {"kind": type(exc).__name__})
