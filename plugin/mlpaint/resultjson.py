"""Query results as JSON or CSV text, written by DuckDB itself, within row and byte limits.

DuckDB's ``to_json`` knows every DuckDB type (HUGEINT, TIMETZ, MAP with any key, INTERVAL,
UNION, infinite dates...), so each row becomes JSON text inside DuckDB and never turns into
Python objects first. Rows longer than the byte limit are cut inside DuckDB too, so a huge value
(``SELECT list(pixels) FROM digits``) costs DuckDB's bounded memory, not the server's.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import duckdb
import orjson

FETCH_ROWS = 256
# Types written as JSON inside a CSV cell; every other type is DuckDB's own text for it.
NESTED_TYPES = {"list", "array", "struct", "map", "union"}
# JSON has no NaN or Infinity: DuckDB writes them bare; they become null (outside strings).
_NON_FINITE = re.compile(rb'"(?:[^"\\]|\\.)*"|-?\b(?:NaN|Infinity)\b')


@dataclass(frozen=True)
class Rendered:
    """A result written out: the body, its rows, and whether rows were cut."""

    body: bytes
    rows: int
    truncated: bool


def render(
    relation: duckdb.DuckDBPyRelation, fmt: str, limit: int | None, max_bytes: int | None
) -> Rendered | None:
    """Write ``relation`` as ``table``, ``json`` or ``csv``; None if one row is over the limit."""
    columns = relation.columns
    if limit is not None:
        relation = relation.limit(limit + 1)
    rows, truncated = _fetch(_one_text_per_row(relation, fmt), limit, max_bytes)
    if rows is None:
        return None
    if fmt == "csv":
        return Rendered(_csv(columns, rows), len(rows), truncated)
    clean = [_finite(row) for row in rows]
    if fmt == "table":
        clean.insert(0, orjson.dumps(list(columns)))
    return Rendered(b"[" + b",".join(clean) + b"]", len(rows), truncated)


def _one_text_per_row(relation: duckdb.DuckDBPyRelation, fmt: str) -> duckdb.DuckDBPyRelation:
    """A relation of one column: each row as JSON text (CSV: a JSON array of its cells' text)."""
    positions = [f"#{i}" for i in range(1, len(relation.columns) + 1)]
    if fmt == "json":
        alias = _unused_alias(relation.columns)
        return relation.set_alias(alias).project(f'to_json("{alias}") AS j')
    if fmt == "csv":
        kinds = [str(t.id) for t in relation.types]
        cells = [
            f"to_json({p})::VARCHAR" if kind in NESTED_TYPES else f"CAST({p} AS VARCHAR)"
            for p, kind in zip(positions, kinds, strict=True)
        ]
        return relation.project(f"json_array({', '.join(cells)}) AS j")
    return relation.project(f"json_array({', '.join(f'to_json({p})' for p in positions)}) AS j")


def _unused_alias(columns: list[str]) -> str:
    alias = "mlpaint_row"
    while alias in columns:
        alias += "_"
    return alias


def _fetch(
    relation: duckdb.DuckDBPyRelation, limit: int | None, max_bytes: int | None
) -> tuple[list[bytes] | None, bool]:
    """Rows of text until the row or byte limit; (None, _) when a single row is over it."""
    text = duckdb.ColumnExpression("j")
    length = duckdb.FunctionExpression("strlen", text)
    if max_bytes is not None:
        fits = length <= duckdb.ConstantExpression(max_bytes)
        text = duckdb.CaseExpression(fits, text)
    relation = relation.project(text.alias("j"), length.alias("n"))
    rows: list[bytes] = []
    size = 0
    for batch in relation.to_arrow_reader(FETCH_ROWS):
        for value, n in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            if limit is not None and len(rows) == limit:
                return rows, True
            size += n + 1
            if max_bytes is not None and size > max_bytes:
                return (rows, True) if rows else (None, True)
            rows.append(value.encode())
    return rows, False


def _finite(row: bytes) -> bytes:
    if b"NaN" not in row and b"Infinity" not in row:
        return row
    return _NON_FINITE.sub(lambda m: m[0] if m[0].startswith(b'"') else b"null", row)


def _csv(columns: list[str], rows: list[bytes]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(orjson.loads(row) for row in rows)
    return buffer.getvalue().encode()
