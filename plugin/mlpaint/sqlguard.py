"""Deciding what user SQL may do, from what DuckDB says the statement does.

User SQL (``/v1/query``, a training config's ``input_data`` and fold predicates) must only read.
A data-modifying CTE (``WITH gone AS (DELETE ... RETURNING id) SELECT ...``) parses as a SELECT,
so neither the first keyword nor the statement type can tell: the check walks the operators of
the statement's physical plan (``EXPLAIN``, which plans but never runs it) and the functions its
syntax tree calls. Where the connection could write, the statement also runs in a transaction
that is always rolled back (:func:`rolled_back`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import duckdb

# Physical operators that change a database, a file or the session (DuckDB's PhysicalOperatorType
# names as EXPLAIN prints them). Anything here refuses the statement.
WRITING_OPERATORS = frozenset(
    {
        "INSERT",
        "BATCH_INSERT",
        "DELETE",
        "UPDATE",
        "MERGE_INTO",
        "COPY_TO_FILE",
        "BATCH_COPY_TO_FILE",
        "COPY_DATABASE",
        "CREATE_TABLE",
        "CREATE_TABLE_AS",
        "BATCH_CREATE_TABLE_AS",
        "CREATE_INDEX",
        "CREATE_SEQUENCE",
        "CREATE_VIEW",
        "CREATE_SCHEMA",
        "CREATE_MACRO",
        "CREATE_TYPE",
        "CREATE_SECRET",
        "ALTER",
        "DROP",
        "ATTACH",
        "DETACH",
        "VACUUM",
        "EXPORT",
        "LOAD",
        "SET",
        "SET_VARIABLE",
        "RESET",
        "TRANSACTION",
        "UPDATE_EXTENSIONS",
    }
)
# Table functions whose rows show the server's files (database path, temp and secret folders).
HIDDEN_OPERATORS = frozenset(
    {"DUCKDB_SETTINGS", "DUCKDB_DATABASES", "DUCKDB_EXTENSIONS", "DUCKDB_TEMPORARY_FILES"}
)
# Scalar functions that show the same paths, or that write (a sequence's next value).
HIDDEN_FUNCTIONS = frozenset({"current_setting", "nextval", "setval"})


class UnsafeSQLError(ValueError):
    """A statement that would write, or read what the server keeps to itself."""


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise ``UnsafeSQLError`` unless ``sql`` only reads (checked on its plan, never run)."""
    calls = sorted(function_names(sql) & HIDDEN_FUNCTIONS)
    if calls:
        raise UnsafeSQLError(f"{calls[0]}() is not available to queries here")
    try:
        operators = plan_operators(con, sql)
    except duckdb.InvalidInputException as exc:
        # On a read-only connection DuckDB refuses to even plan a statement that writes.
        if "read-only mode" in str(exc):
            raise UnsafeSQLError("read-only: the statement would write") from exc
        raise
    writes = sorted(operators & WRITING_OPERATORS)
    if writes:
        raise UnsafeSQLError(f"read-only: the statement would run {writes[0]}")
    hidden = sorted(operators & HIDDEN_OPERATORS)
    if hidden:
        raise UnsafeSQLError(f"{hidden[0].lower()}() is not available to queries here")


def plan_operators(con: duckdb.DuckDBPyConnection, sql: str) -> set[str]:
    """The names of every operator in the physical plan of one statement (planned, not run)."""
    rows = con.execute(f"EXPLAIN (FORMAT json) {sql}").fetchall()
    names: set[str] = set()
    for _, plan in rows:
        stack: list[Any] = [json.loads(plan)]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                names.add(str(node.get("name", "")).strip().upper())
                stack.extend(node.get("children", []))
    return names


def function_names(sql: str) -> set[str]:
    """The lower-cased names of every function the statement's syntax tree calls."""
    names: set[str] = set()
    stack: list[Any] = [syntax_tree(sql)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class") == "FUNCTION" and isinstance(node.get("function_name"), str):
                names.add(node["function_name"].lower())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


_PARSER_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _parser() -> duckdb.DuckDBPyConnection:
    """A private in-memory connection for parsing (it needs no data; opening one costs ~10 ms)."""
    return duckdb.connect()


def syntax_tree(sql: str) -> dict[str, Any]:
    """DuckDB's syntax tree of ``sql`` (``json_serialize_sql``), or ``{"error": ...}``."""
    with _PARSER_LOCK:
        rows = _parser().execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
    return json.loads(rows[0][0]) if rows else {"error": True}


@contextmanager
def rolled_back(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block in a transaction that is always rolled back, whatever the block did."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    finally:
        con.execute("ROLLBACK")
