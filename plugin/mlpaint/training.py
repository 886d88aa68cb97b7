"""Training an experiment: load each fold with SQL, fit, evaluate, register in one transaction.

Several folds train one model each; the registry keeps the first fold's model as the servable
one, every fold's metrics, and the mean and sample standard deviation of each scalar metric
across folds (the headline numbers, ``metrics["test"]``). Nothing is written until every fold
has trained, so an error or Ctrl-C leaves the database exactly as it was.

Metrics JSON: ``{"n_folds", "test": {scalar: mean}, "test_std": {scalar: std}, "train",
"train_std" (with evaluate_train), "folds": [{"fold", "test": evaluate(), "train"?}]}``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlpaint import metrics, registry
from mlpaint.experiment import ConfigError, ExperimentConfig, Fold, fold_query
from mlpaint.model import BaggedBoostedTrees
from mlpaint.preprocess import N_PIXELS

ProgressFn = Callable[[float, str], None]
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_INT32 = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)


@dataclass(frozen=True)
class FoldData:
    """The rows one predicate selects: (n,784) uint8 pixels, (n,) labels, ids or None."""

    pixels: np.ndarray
    labels: np.ndarray
    ids: np.ndarray | None


@dataclass(frozen=True)
class TrainReport:
    """What a training run produced, for the command line and the REST API."""

    name: str
    version: int
    metrics: dict[str, Any]
    n_trees: int
    n_boosters: int
    seconds: float
    size_bytes: int
    row_counts: list[dict[str, int]]


@dataclass(frozen=True)
class _FoldResult:
    model: BaggedBoostedTrees | None  # kept for the first fold only: the servable model
    test: dict[str, Any]
    train: dict[str, Any] | None
    rows: dict[str, int]
    predictions: registry.Predictions | None


def check_name(name: str) -> None:
    """Model names: a letter, then up to 63 letters, digits, ``_``, ``-`` or ``.``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"model name {name!r}: use a letter then letters, digits, _ - or .")


def check_config(con: duckdb.DuckDBPyConnection, config: ExperimentConfig) -> None:
    """Bind every fold's SQL to the database (reading no rows) and check the column types."""
    _bind(con, config.input_data, "input_data")
    for i, fold in enumerate(config.folds):
        for key in ("training_where", "testing_where"):
            _bind(con, fold_query(config, getattr(fold, key)), f"folds[{i}].{key}")


def _bind(con: duckdb.DuckDBPyConnection, sql: str, key: str) -> None:
    """Plan ``sql`` without running it; check it yields features, label and maybe id."""
    try:
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


def _is_integer_type(sql_type: str) -> bool:
    return sql_type.lstrip("U") in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}


def load_rows(
    con: duckdb.DuckDBPyConnection, config: ExperimentConfig, predicate: str, key: str
) -> FoldData:
    """Run ``input_data`` over the rows ``predicate`` keeps; rows sorted by id when there is one."""
    try:
        table = con.sql(fold_query(config, predicate)).to_arrow_table()
    except duckdb.Error as exc:
        raise ConfigError(f"{key}: {exc}") from exc
    if table.num_rows == 0:
        raise ConfigError(f"{key} selects no rows")
    pixels = _pixel_matrix(table.column("features"), key)
    labels = _integers(table.column("label"), key, "label", 0, 9).astype(np.uint8)
    ids = None
    if "id" in table.column_names:
        ids = _integers(table.column("id"), key, "id", *_INT32).astype(np.int32)
        # Scan order is not guaranteed across DuckDB versions; id order makes training repeatable.
        order = np.argsort(ids, kind="stable")
        pixels, labels, ids = pixels[order], labels[order], ids[order]
    return FoldData(pixels, labels, ids)


def _pixel_matrix(column: pa.ChunkedArray, key: str) -> np.ndarray:
    """A list column of 784 numbers 0..255 per row as an (n,784) uint8 matrix, without a loop."""
    array = column.combine_chunks()
    if array.null_count:
        raise ConfigError(f"{key}: features is NULL in {array.null_count} rows")
    if pa.types.is_fixed_size_list(array.type):
        bad = [] if array.type.list_size == N_PIXELS else [array.type.list_size]
    else:
        lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
        bad = lengths[lengths != N_PIXELS][:1].tolist()
    if bad:
        raise ConfigError(f"{key}: features must have {N_PIXELS} values, a row has {bad[0]}")
    values = array.flatten()
    numeric = pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
    if values.null_count or not numeric:
        raise ConfigError(f"{key}: features must be non-NULL numbers 0..255")
    flat = _in_range(values.to_numpy(zero_copy_only=False), key, "features", 0, 255)
    return flat.astype(np.uint8, copy=False).reshape(len(array), N_PIXELS)


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


class _Progress:
    """Maps each fold's phases onto one 0..1 scale for ``on_progress``."""

    def __init__(self, n_folds: int, callback: ProgressFn | None) -> None:
        self.n_folds, self.callback = n_folds, callback

    def report(self, fold: int, within: float, message: str) -> None:
        """Tell the callback how far fold ``fold`` is (``within`` 0..1 of it)."""
        if self.callback is not None:
            fraction = min(0.99, (fold + within) / self.n_folds * 0.99)
            self.callback(fraction, f"fold {fold + 1}/{self.n_folds}: {message}")

    def rounds(self, fold: int) -> Callable[[int, int], None]:
        """An ``on_round`` callback for ``BaggedBoostedTrees.fit``: fitting is 5%..90% of a fold."""
        return lambda done, total: self.report(
            fold, 0.05 + 0.85 * done / max(total, 1), f"training round {done}/{total}"
        )

    def overall(self, fraction: float, message: str) -> None:
        """A tick outside any fold (saving, done)."""
        if self.callback is not None:
            self.callback(fraction, message)


def _run_fold(
    con: duckdb.DuckDBPyConnection,
    config: ExperimentConfig,
    index: int,
    fold: Fold,
    bar: bool,
    tracker: _Progress,
) -> _FoldResult:
    """Load, fit and evaluate one fold."""
    tracker.report(index, 0.0, "loading rows")
    key = f"folds[{index}]"
    train = load_rows(con, config, fold.training_where, f"{key}.training_where")
    test = load_rows(con, config, fold.testing_where, f"{key}.testing_where")
    model = BaggedBoostedTrees.fit(
        train.pixels, train.labels, config.spec, progress=bar, on_round=tracker.rounds(index)
    )
    tracker.report(index, 0.9, "evaluating")
    probabilities = model.probabilities(test.pixels)
    train_metrics = None
    if config.evaluate_train:
        train_metrics = metrics.evaluate(train.labels, model.probabilities(train.pixels))
    predictions = None
    if test.ids is not None and index == 0:
        predictions = registry.Predictions(test.ids, test.labels, probabilities)
    rows = {"fold": index, "train": len(train.labels), "test": len(test.labels)}
    test_metrics = metrics.evaluate(test.labels, probabilities)
    # Only the first fold's model is served; dropping the others frees their memory.
    return _FoldResult(
        model if index == 0 else None, test_metrics, train_metrics, rows, predictions
    )


def _combine(results: list[_FoldResult]) -> dict[str, Any]:
    """Headline means and standard deviations across folds, then every fold's full metrics."""
    combined: dict[str, Any] = {"n_folds": len(results)}
    for split in ("test", "train"):
        runs = [getattr(r, split) for r in results if getattr(r, split) is not None]
        if runs:
            summary = metrics.summarize(runs)
            combined[split], combined[f"{split}_std"] = summary["mean"], summary["std"]
    combined["folds"] = [
        {"fold": i, "test": r.test, **({"train": r.train} if r.train is not None else {})}
        for i, r in enumerate(results)
    ]
    return combined


def train(
    con: duckdb.DuckDBPyConnection,
    config: ExperimentConfig,
    name: str,
    *,
    progress: bool = True,
    on_progress: ProgressFn | None = None,
) -> TrainReport:
    """Train every fold of ``config``, then register the model as the next version of ``name``."""
    check_name(name)
    check_config(con, config)
    started = time.perf_counter()
    tracker = _Progress(len(config.folds), on_progress)
    results = [
        _run_fold(con, config, index, fold, progress, tracker)
        for index, fold in enumerate(config.folds)
    ]
    model = results[0].model
    assert model is not None
    record = registry.ModelRecord(
        model=model,
        config=config.to_dict(),
        metrics=_combine(results),
        folds=[fold.to_dict() for fold in config.folds],
        row_counts=[r.rows for r in results],
        confusions=[r.test["confusion"] for r in results],
        seconds=time.perf_counter() - started,
        predictions=results[0].predictions,
    )
    tracker.overall(0.99, "saving the model")
    version = registry.save_model(con, name, record)
    tracker.overall(1.0, f"saved {name} version {version}")
    return TrainReport(
        name=name,
        version=version,
        metrics=record.metrics,
        n_trees=model.n_trees,
        n_boosters=model.n_boosters,
        seconds=record.seconds,
        size_bytes=len(record.blob),
        row_counts=record.row_counts,
    )


def format_report(report: TrainReport) -> str:
    """A short human summary of a training run."""
    m = report.metrics
    test, std = m["test"], m["test_std"]
    spread = f" ± {std['accuracy']:.2%}" if m["n_folds"] > 1 else ""
    lines = [
        f"model {report.name} version {report.version}: {m['n_folds']} fold(s), "
        + ", ".join(f"{r['train']} train / {r['test']} test rows" for r in report.row_counts[:1]),
        f"  test  top-1 accuracy {test['accuracy']:.2%}{spread}   "
        f"MLDB-style one-vs-rest weighted accuracy {test['mldb_weighted_accuracy']:.4f}",
        f"        log loss {test['log_loss']:.4f}   macro F1 {test['macro_f1']:.4f}",
    ]
    if "train" in m:
        lines.append(
            f"  train top-1 accuracy {m['train']['accuracy']:.2%}   "
            f"log loss {m['train']['log_loss']:.4f}"
        )
    lines.append(
        f"  {report.n_trees} trees in {report.n_boosters} boosters, "
        f"model size {report.size_bytes / 1e6:.1f} MB, trained in {report.seconds:.1f} s"
    )
    return "\n".join(lines)
