"""The DuckDB connection lifecycle: where the database lives, opening it, transactions, scripts."""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from mlpaint.resources import sql_path

DEFAULT_DB = "mlpaint.duckdb"
DB_ENV = "MLPAINT_DB"
# Macros of sql/folds.sql and sql/bags.sql that databases imported by older releases lack
# (see upgrade_folds).
FOLD_MACROS = ("fold_of", "is_test_fold", "bag_hash", "in_bag")
FOLD_SCRIPTS = ("bags.sql", "folds.sql")


class MissingDatabaseError(FileNotFoundError):
    """The database file does not exist yet."""


class DatabaseBusyError(RuntimeError):
    """The database file is locked by another process (typically a running server)."""


class DatabaseError(RuntimeError):
    """The file cannot be used as a database: not a DuckDB file, damaged, or unreadable."""


class DatabaseReadOnlyError(DatabaseError):
    """The database can be read but not written (read-only filesystem, immutable file)."""


def default_db_path() -> Path:
    """Return the database path: ``$MLPAINT_DB`` or ``./mlpaint.duckdb``."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


def resolve_db_path(path: str | os.PathLike[str] | None) -> Path:
    """Return ``path`` as a Path, or the default when it is None."""
    return Path(path) if path else default_db_path()


def existing_db_path(path: str | os.PathLike[str] | None) -> Path:
    """The database path, or ``MissingDatabaseError`` saying to import first."""
    db_path = resolve_db_path(path)
    if not db_path.exists():
        raise MissingDatabaseError(f"{db_path}: no database; run `mlpaint import` first")
    return db_path


def connect(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    config: dict[str, str | int | bool] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the database file; a file DuckDB cannot use raises one of this module's errors.

    A lock conflict is ``DatabaseBusyError``; a file that cannot be written, read, or is not
    a (whole) DuckDB database is ``DatabaseError``, with DuckDB's reason in the message.
    """
    db_path = existing_db_path(path) if read_only else resolve_db_path(path)
    try:
        con = duckdb.connect(str(db_path), read_only=read_only, config=config or {})
    except duckdb.InvalidInputException:
        raise  # a bad config value: a caller's mistake, not the file's
    except duckdb.Error as exc:
        raise _open_error(db_path, exc, writing=not read_only) from exc
    if not read_only:
        upgrade_folds(con)
    return con


def upgrade_folds(con: duckdb.DuckDBPyConnection) -> None:
    """Give a database imported before ``FOLD_MACROS`` existed the current folds and bags.

    The folds are the same (``row_hash`` never changed); only the macros the default experiment
    and the views now call are added. A failure leaves the database as it was.
    """
    if not table_exists(con, "digits") or _macro_count(con, FOLD_MACROS) == len(FOLD_MACROS):
        return
    with contextlib.suppress(duckdb.Error), transaction(con):
        for script in FOLD_SCRIPTS:
            run_script(con, script)


def _macro_count(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> int:
    row = query_one(
        con,
        "SELECT count(DISTINCT function_name) FROM duckdb_functions() WHERE function_type = "
        "'macro' AND database_name = current_database() AND schema_name = 'main' "
        "AND list_contains(?, function_name)",
        [list(names)],
    )
    return int(row[0]) if row else 0


def _open_error(db_path: Path, exc: duckdb.Error, *, writing: bool) -> RuntimeError:
    reason = error_reason(exc)
    if isinstance(exc, duckdb.IOException) and "could not set lock" in reason.lower():
        return DatabaseBusyError(_busy_message(db_path))
    if isinstance(exc, duckdb.ConnectionException):  # this process holds it, opened otherwise
        return DatabaseBusyError(f"{db_path} is open in this process already ({reason})")
    if writing and any(os.strerror(code) in reason for code in _UNWRITABLE):
        if not db_path.exists():
            return DatabaseReadOnlyError(f"{db_path} cannot be created ({reason})")
        return DatabaseReadOnlyError(
            f"{db_path} cannot be written ({reason}); commands that only read it still work, "
            "and `mlpaint serve` without --allow-training serves it"
        )
    return DatabaseError(f"{db_path} is not a usable DuckDB database, or it is damaged ({reason})")


def error_reason(exc: BaseException) -> str:
    """The first line of an error's message (DuckDB's can run over several lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# The errors opening a file for writing gives on a read-only filesystem, an immutable file,
# or a file without write permission; DuckDB puts strerror's text in its message.
_UNWRITABLE = (errno.EROFS, errno.EPERM, errno.EACCES)


def _busy_message(db_path: Path) -> str:
    return (
        f"{db_path} is in use by another process (a running `mlpaint serve` or `demo`?). "
        "DuckDB allows one writer or many readers per file: stop that process, "
        "or train through the server (see `mlpaint train --help`)."
    )


def quote_identifier(name: str) -> str:
    """Quote ``name`` as a SQL identifier (double quotes, embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block in one transaction: committed on success, rolled back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def read_script(script: str | os.PathLike[str]) -> str:
    """Return the text of a SQL script: a path, or the name of a script shipped in ``sql/``."""
    path = Path(script)
    if not path.exists() and not path.is_absolute():
        path = sql_path(str(script))
    return path.read_text(encoding="utf-8")


def run_script(con: duckdb.DuckDBPyConnection, script: str | os.PathLike[str]) -> None:
    """Execute every statement of a SQL script on ``con``."""
    con.execute(read_script(script))


def query_one(
    con: duckdb.DuckDBPyConnection, query: str, params: list[object] | None = None
) -> tuple[Any, ...] | None:
    """Run a query and return its first row (or None), leaving no unfinished result behind."""
    # DuckDB 2 keeps a result open after fetchone(), which blocks the next con.sql() call.
    rows = con.execute(query, params or []).fetchall()
    return rows[0] if rows else None


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Tell whether a table or view named ``table`` exists in the main schema."""
    row = query_one(
        con,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema = 'main'",
        [table],
    )
    return bool(row and row[0])


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_plain_identifier(name: str) -> bool:
    """Tell whether ``name`` is a plain SQL identifier (letters, digits, underscores)."""
    return bool(_IDENTIFIER.match(name))
