"""Running SQL scripts and printing their results as a table, CSV or JSON."""

from __future__ import annotations

import contextlib
import csv
import datetime
import decimal
import io
import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

import duckdb

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
    columns = relation.columns
    rows = relation.fetchall()
    if fmt == "csv":
        return to_csv(columns, rows)
    if fmt == "json":
        return json.dumps(to_records(columns, rows), default=json_default) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render_table(relation: duckdb.DuckDBPyRelation, max_rows: int = TABLE_ROWS) -> str:
    """DuckDB's own box rendering, showing up to ``max_rows`` rows (it prints to stdout)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        relation.show(max_rows=max_rows)
    return buffer.getvalue()


def to_records(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows as a list of ``{column: value}`` objects."""
    return [dict(zip(columns, row, strict=True)) for row in rows]


def to_csv(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    """Rows as CSV text with a header line; lists and structs are written as JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=json_default)
    return value


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
