"""The rows an experiment trains on: its SQL checked against the database, then read as NumPy.

User SQL only ever reads here. ``input_data`` and the fold predicates are refused when the plan
DuckDB makes for them writes anything (a data-modifying CTE parses as a SELECT, and DuckDB runs
it while binding), and every bind or read happens in a transaction that is always rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from mlpaint import sqlguard
from mlpaint.bags import BAG_PREDICATE
from mlpaint.experiment import ConfigError, ExperimentConfig, fold_query
from mlpaint.pixels import N_CLASSES, N_PIXELS, PixelError, arrow_matrix

_INT32 = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)


@dataclass(frozen=True)
class FoldData:
    """The rows one predicate selects: (n,784) uint8 pixels, (n,) labels, ids or None."""

    pixels: np.ndarray
    labels: np.ndarray
    ids: np.ndarray | None


def check_config(con: duckdb.DuckDBPyConnection, config: ExperimentConfig) -> None:
    """Bind every fold's SQL to the database (reading no rows) and check the column types."""
    _bind(con, config.input_data, "input_data")
    for i, fold in enumerate(config.folds):
        for key in ("training_where", "testing_where"):
            _bind(con, fold_query(config, getattr(fold, key)), f"folds[{i}].{key}")


def _bind(con: duckdb.DuckDBPyConnection, sql: str, key: str) -> None:
    """Plan ``sql`` without running it; check it yields features, label and maybe id."""
    check_reads_only(con, sql, key)
    try:
        # Binding runs a data-modifying CTE; the plan showed none, and the rollback would undo it.
        with sqlguard.rolled_back(con):
            rel = con.sql(sql)
            columns = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    except duckdb.Error as exc:
        raise ConfigError(f"{key}: {exc}") from exc
    for column in ("features", "label"):
        if column not in columns:
            raise ConfigError(f"{key}: the query must yield a {column!r} column")
    if not columns["features"].endswith("]"):
        raise ConfigError(f"{key}: features must be a list of {N_PIXELS} pixel values")
    for column in ("label", "id"):
        if column in columns and not _is_integer_type(columns[column]):
            raise ConfigError(f"{key}: {column} must be an integer, got {columns[column]}")


def check_reads_only(con: duckdb.DuckDBPyConnection, sql: str, key: str) -> None:
    """Refuse SQL whose plan writes anything (a data-modifying CTE parses as a SELECT)."""
    try:
        sqlguard.check_read_only(con, sql)
    except (sqlguard.UnsafeSQLError, duckdb.Error) as exc:
        raise ConfigError(f"{key}: {exc}") from exc


def _is_integer_type(sql_type: str) -> bool:
    return sql_type.lstrip("U") in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}


def load_rows(
    con: duckdb.DuckDBPyConnection,
    config: ExperimentConfig,
    predicate: str,
    key: str,
    *,
    bag: dict[str, Any] | None = None,
) -> FoldData:
    """Run ``input_data`` over the rows ``predicate`` keeps; rows sorted by id when there is one.

    ``bag`` (``bags.bag_parameters``) narrows the rows to one bag by the rule of sql/bags.sql.
    """
    sql = fold_query(config, predicate)
    check_reads_only(con, sql, key)  # the user's SQL; the bag's filter below is ours
    if bag is not None:
        sql = fold_query(config, f"({predicate}\n) AND {BAG_PREDICATE}")
    try:
        # Reading never writes: whatever the SQL did is rolled back (the model is saved later,
        # in a transaction of its own).
        with sqlguard.rolled_back(con):
            table = con.sql(sql, params=bag).to_arrow_table()
    except duckdb.Error as exc:
        raise ConfigError(f"{key}: {exc}") from exc
    if table.num_rows == 0:
        where = f" in bag {bag['bag']}" if bag is not None else ""
        raise ConfigError(f"{key} selects no rows{where}")
    pixels = _pixel_matrix(table.column("features"), key)
    labels = _integers(table.column("label"), key, "label", 0, N_CLASSES - 1).astype(np.uint8)
    ids = None
    if "id" in table.column_names:
        ids = _integers(table.column("id"), key, "id", *_INT32).astype(np.int32)
        # Scan order is not guaranteed across DuckDB versions; id order makes training repeatable.
        order = np.argsort(ids, kind="stable")
        pixels, labels, ids = pixels[order], labels[order], ids[order]
    return FoldData(pixels, labels, ids)


def count_rows(
    con: duckdb.DuckDBPyConnection, config: ExperimentConfig, predicate: str, key: str
) -> int:
    """How many rows ``input_data`` yields over the rows ``predicate`` keeps (none are read)."""
    sql = fold_query(config, predicate)
    check_reads_only(con, sql, key)
    try:
        with sqlguard.rolled_back(con):
            return int(con.sql(f"SELECT count(*) FROM (\n{sql}\n)").fetchall()[0][0])
    except duckdb.Error as exc:
        raise ConfigError(f"{key}: {exc}") from exc


def _pixel_matrix(column: pa.ChunkedArray, key: str) -> np.ndarray:
    """A list column of 784 whole numbers 0..255 a row, no NULL row, as an (n,784) uint8 matrix."""
    try:
        return arrow_matrix(column, key, "features", keep_nulls=False, whole=True)[1]
    except PixelError as exc:
        raise ConfigError(str(exc)) from exc


def _integers(column: pa.ChunkedArray, key: str, name: str, low: int, high: int) -> np.ndarray:
    """A non-NULL integer column as NumPy, every value in [low, high]."""
    array = column.combine_chunks()
    if array.null_count:
        raise ConfigError(f"{key}: {name} is NULL in {array.null_count} rows")
    return _in_range(array.to_numpy(zero_copy_only=False), key, name, low, high)


def _in_range(values: np.ndarray, key: str, name: str, low: int, high: int) -> np.ndarray:
    """Check whole numbers in [low, high]; the message shows the first offender."""
    bad = (values < low) | (values > high)
    if values.dtype.kind == "f":
        bad |= values != np.round(values)
    if bad.any():
        raise ConfigError(
            f"{key}: {name} must be whole numbers {low}..{high}, got {values[bad.argmax()]}"
        )
    return values
