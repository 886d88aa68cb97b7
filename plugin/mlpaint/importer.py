"""``mlpaint import``: load checked digits into the ``digits`` table in one transaction."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from mlpaint import db
from mlpaint.pixels import N_PIXELS
from mlpaint.progress import Progress
from mlpaint.sources import DigitBatch, read_source, read_vendored, scratch_dir


@dataclass
class ImportResult:
    """What an import did: rows written (0 for a no-op), seconds taken, and a sentence."""

    rows: int
    seconds: float
    message: str


def import_digits(
    db_path: str | os.PathLike[str] | None = None,
    sources: list[str] | None = None,
    *,
    replace: bool = False,
    progress: bool = True,
) -> ImportResult:
    """Import digits into the database; every check runs before anything is written."""
    started = time.perf_counter()
    path = db.resolve_db_path(db_path)
    existing = _existing_rows(path)
    if existing and not replace:
        return ImportResult(
            0, 0.0, f"{path} already holds {existing:,} digits; nothing to do (--replace reloads)"
        )
    batches = _read_all(sources, progress)
    rows = _write(path, batches, progress)
    seconds = time.perf_counter() - started
    verb = "Replaced the digits with" if existing else "Imported"
    return ImportResult(rows, seconds, f"{verb} {rows:,} digits into {path} in {seconds:.1f} s")


def _existing_rows(path: Path) -> int:
    if not path.exists():
        return 0
    con = db.connect(path, read_only=True)
    try:
        if not db.table_exists(con, "digits"):
            return 0
        row = db.query_one(con, "SELECT count(*) FROM digits")
        return int(row[0]) if row else 0
    finally:
        con.close()


def _read_all(sources: list[str] | None, progress: bool) -> list[DigitBatch]:
    if not sources:
        return read_vendored()
    with scratch_dir() as workdir:
        batches: list[DigitBatch] = []
        with Progress(len(sources), "reading sources", "file", enabled=progress) as bar:
            for spec in sources:
                batches.extend(read_source(spec, Path(workdir)))
                bar.update()
    return batches


def _write(path: Path, batches: list[DigitBatch], progress: bool) -> int:
    """Replace the digits table's rows with ``batches``; a file this creates goes if it fails."""
    table = _arrow_table(batches)
    created = not path.exists()
    try:
        con = db.connect(path)
        try:
            _replace_rows(con, table, progress)
        finally:
            con.close()
    except BaseException:
        if created:
            _remove_database(path)
        raise
    return table.num_rows


def _replace_rows(con: duckdb.DuckDBPyConnection, table: pa.Table, progress: bool) -> None:
    """Schema, rows and fold views in one transaction."""
    with db.transaction(con), Progress(2, "writing", "step", enabled=progress) as bar:
        db.run_script(con, "schema.sql")
        con.execute("DELETE FROM digits")
        con.register("incoming_digits", table)
        con.execute(
            "INSERT INTO digits SELECT id, label, pixels::UTINYINT[784], source "
            "FROM incoming_digits"
        )
        con.unregister("incoming_digits")
        bar.update()
        for script in db.FOLD_SCRIPTS:
            db.run_script(con, script)
        bar.update()


def _arrow_table(batches: list[DigitBatch]) -> pa.Table:
    pixels = np.concatenate([b.pixels for b in batches]).astype(np.uint8, copy=False)
    labels = np.concatenate([b.labels for b in batches]).astype(np.uint8, copy=False)
    sources = np.concatenate([np.full(len(b.labels), b.source, dtype=object) for b in batches])
    flat = pa.array(pixels.reshape(-1), type=pa.uint8())
    return pa.table(
        {
            "id": pa.array(np.arange(len(labels), dtype=np.int32)),
            "label": pa.array(labels),
            "pixels": pa.FixedSizeListArray.from_arrays(flat, N_PIXELS),
            "source": pa.array(sources, type=pa.string()),
        }
    )


def _remove_database(path: Path) -> None:
    """Remove a database file this import created, so a failure leaves no trace."""
    for leftover in (path, path.with_name(path.name + ".wal")):
        if leftover.exists():  # unlink(missing_ok=True) still fails on a read-only filesystem
            leftover.unlink()
