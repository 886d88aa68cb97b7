"""``GET /v1/query``: read-only SQL over the database, with the ml_* functions, safely bounded."""

from __future__ import annotations

import threading
from typing import Any

import duckdb
from flask import Blueprint, Response, current_app, request

from mlpaint.api.errors import APIError, bad_request
from mlpaint.api.functions import serving
from mlpaint.sqlrunner import to_csv, to_records

bp = Blueprint("query", __name__, url_prefix="/v1")

FORMATS = ("table", "json", "csv")


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
    statement = single_select(sql)
    columns, rows = run_bounded(statement, limit)
    truncated = len(rows) > limit
    rows = rows[:limit]
    headers = {"X-Row-Limit": str(limit), "X-Truncated": str(truncated).lower()}
    if fmt == "csv":
        return Response(to_csv(columns, rows), mimetype="text/csv", headers=headers)
    body: Any = [list(columns), *map(list, rows)] if fmt == "table" else to_records(columns, rows)
    response = current_app.json.response(body)
    response.headers.update(headers)
    return response


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


def single_select(sql: str) -> str:
    """Parse ``sql`` and return it if it is exactly one SELECT statement; else 400."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise bad_request(str(exc), {"kind": type(exc).__name__}) from exc
    if len(statements) != 1:
        raise bad_request(f"send exactly one statement, got {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = statements[0].type.name
        raise APIError(403, f"read-only endpoint: only SELECT queries run here, not {kind}")
    return statements[0].query


def run_bounded(sql: str, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a query on a cursor of its own, interrupted when it passes the time limit."""
    seconds = float(current_app.config["QUERY_TIMEOUT_S"])
    with serving().cursor() as cursor:
        timer = threading.Timer(seconds, cursor.interrupt)
        timer.start()
        try:
            relation = cursor.sql(sql)
            return list(relation.columns), relation.limit(limit + 1).fetchall()
        except duckdb.InterruptException as exc:
            raise APIError(408, f"the query ran longer than {seconds:g} s and was stopped") from exc
        except duckdb.OutOfMemoryException as exc:
            raise APIError(413, f"the query needs more memory than allowed: {exc}") from exc
        except duckdb.Error as exc:
            raise bad_request(str(exc), {"kind": type(exc).__name__}) from exc
        finally:
            timer.cancel()
