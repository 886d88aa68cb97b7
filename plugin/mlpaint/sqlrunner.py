"""Running SQL scripts and printing their results as a table, CSV or JSON."""

from __future__ import annotations

import contextlib
import datetime
import decimal
import io
import uuid
from collections.abc import Iterator
from typing import Any, TextIO

import duckdb

from mlpaint import resultjson

FORMATS = ("table", "csv", "json")
TABLE_ROWS = 100  # rows the table format shows before eliding the middle
# Statements whose rows are the point (a PIVOT parses as MULTI); others only report a count.
ROW_STATEMENTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
    duckdb.StatementType.PRAGMA,
    duckdb.StatementType.CALL,
    duckdb.StatementType.MULTI,
    duckdb.StatementType.EXECUTE,
}


def statements(text: str) -> list[str]:
    """Split a script into its statements, using DuckDB's own parser."""
    return [_bare(statement.query) for statement in duckdb.extract_statements(text)]


def _bare(query: str) -> str:
    """A statement without the semicolon and the comment lines DuckDB's splitter leaves after it.

    ``con.sql`` wraps its text, so a trailing semicolon is a syntax error there.
    """
    lines = query.rstrip().splitlines()
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("--")):
        lines.pop()
    return "\n".join(lines).rstrip().removesuffix(";")


def run_script_results(
    con: duckdb.DuckDBPyConnection, text: str
) -> Iterator[duckdb.DuckDBPyRelation]:
    """Run each statement of ``text``, yielding the result of every one that returns rows."""
    for statement in duckdb.extract_statements(text):
        if statement.type in ROW_STATEMENTS:
            yield con.sql(_bare(statement.query))
        else:
            con.execute(_bare(statement.query)).fetchall()


def print_results(con: duckdb.DuckDBPyConnection, text: str, fmt: str, out: TextIO) -> int:
    """Run a script and print each result in ``fmt``; return how many results were printed."""
    count = 0
    for relation in run_script_results(con, text):
        if count:
            out.write("\n")
        out.write(render(relation, fmt))
        count += 1
    return count


def render(relation: duckdb.DuckDBPyRelation, fmt: str) -> str:
    """Render one result as text in ``fmt`` (table, csv or json)."""
    if fmt == "table":
        return render_table(relation)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    rendered = resultjson.render(relation, fmt, limit=None, max_bytes=None)
    assert rendered is not None  # only a byte limit can refuse a row
    return rendered.body.decode() + ("\n" if fmt == "json" else "")


def render_table(relation: duckdb.DuckDBPyRelation, max_rows: int = TABLE_ROWS) -> str:
    """DuckDB's own box rendering, showing up to ``max_rows`` rows (it prints to stdout)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        relation.show(max_rows=max_rows)
    return buffer.getvalue()


def json_default(value: Any) -> Any:
    """Make DuckDB's Python values JSON-serialisable (dates, decimals, UUIDs, bytes)."""
    if isinstance(value, datetime.date | datetime.time | datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} as JSON")
