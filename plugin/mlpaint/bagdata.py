"""The copy of the training data that Dask workers read: a DuckDB file on shared storage.

The client copies the tables the experiment's SQL reads (``digits`` and any table the input or
a fold predicate names) into a fresh file with the fold and bag macros, in a folder every worker
reaches; each bag's task opens it read-only and selects its own rows. The file is removed when
training ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb

from mlpaint import db
from mlpaint.bagtraining import ClusterError
from mlpaint.experiment import TABLE, ExperimentConfig, base_tables, parse_select

_BATCH_ROWS = 8192


class SharedDataError(ClusterError):
    """The copy of the data for the workers could not be written."""


def tables_read(config: ExperimentConfig) -> list[str]:
    """The tables the experiment's SQL names (digits first), CTE names included."""
    sql = [config.input_data] + [
        f"SELECT * FROM {TABLE} WHERE ({getattr(fold, key)}\n)"
        for fold in config.folds
        for key in ("training_where", "testing_where")
    ]
    names = {name for text in sql for _, _, name in base_tables(parse_select(text, "sql"))}
    return [TABLE, *sorted(names - {TABLE}, key=str.lower)]


def _folder(con: duckdb.DuckDBPyConnection, shared_dir: str) -> Path:
    """Where the copy goes: ``shared_dir``, else beside the database file (else a temp folder)."""
    if shared_dir:
        return Path(shared_dir).expanduser().resolve()
    row = db.query_one(
        con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    )
    path = row[0] if row else None
    return Path(path).resolve().parent if path else Path(tempfile.gettempdir())


@contextlib.contextmanager
def shared_copy(
    con: duckdb.DuckDBPyConnection, config: ExperimentConfig, shared_dir: str = ""
) -> Iterator[str]:
    """Write the data the bags read to a new DuckDB file; yield its path, then remove it."""
    folder = _folder(con, shared_dir)
    path = folder / f"mlpaint-bags-{uuid.uuid4().hex}.duckdb"
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write(con, config, path)
        except (OSError, duckdb.Error) as exc:
            raise SharedDataError(
                f"cannot write the training data for the workers to {folder}: "
                f"{db.error_reason(exc)}"
            ) from None
        yield str(path)
    finally:
        for leftover in (path, path.with_name(path.name + ".wal")):
            with contextlib.suppress(OSError):  # never written, or its folder is not one
                leftover.unlink(missing_ok=True)


def _write(con: duckdb.DuckDBPyConnection, config: ExperimentConfig, path: Path) -> None:
    """Copy ``digits``, add the fold and bag macros and views, then the other tables read."""
    # Rows stream through Arrow into a connection of the copy's own: the server's connection
    # may not touch the filesystem (no ATTACH), and this one needs nothing else.
    copy = duckdb.connect(str(path))
    try:
        _copy_table(con, copy, TABLE)
        for script in db.FOLD_SCRIPTS:
            db.run_script(copy, script)
        missing = _relations(con) - _relations(copy)
        for name in tables_read(config):
            if name.lower() in missing:
                _copy_table(con, copy, name)
        copy.execute("CHECKPOINT")
    finally:
        copy.close()


def _copy_table(
    source: duckdb.DuckDBPyConnection, target: duckdb.DuckDBPyConnection, name: str
) -> None:
    """Stream a table's (or a view's) rows from ``source`` into a new table of ``target``."""
    quoted = db.quote_identifier(name)
    batches = source.sql(f"SELECT * FROM main.{quoted}").to_arrow_reader(_BATCH_ROWS)
    target.register("mlpaint_incoming", batches)
    try:
        target.execute(f"CREATE TABLE {quoted} AS SELECT * FROM mlpaint_incoming")
    finally:
        target.unregister("mlpaint_incoming")


def _relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Lower-cased names of the main schema's tables and views in the current database."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' UNION SELECT view_name FROM duckdb_views() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal"
    ).fetchall()
    return {name.lower() for (name,) in rows}
