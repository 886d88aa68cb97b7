"""The model registry: trained models, their evaluations and the active model, in DuckDB.

The tables live in the same database file as the digits (see ``sql/models.sql``). Reading works
on a read-only connection and before any model exists; only ``save_model``, ``activate`` and
``unpin`` write, each in one transaction, and neither of the first two takes a model whose
metrics hold a NaN or an infinity. The active model, the one that serves, is the model pinned
with ``activate``, or else the newest model trained.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import duckdb
import lightgbm
import numpy as np
import pyarrow as pa

import mlpaint
from mlpaint import db, registry_names
from mlpaint.metrics import first_non_finite
from mlpaint.model import BaggedBoostedTrees
from mlpaint.pixels import N_CLASSES

_SUMMARY_COLUMNS = (
    "name, version, created_at, active, accuracy, mldb_weighted_accuracy, log_loss, n_folds, "
    "n_trees, size_bytes, description"
)
_INFO_COLUMNS = (
    "name, version, created_at, config, metrics, folds, row_counts, n_trees, size_bytes, seconds, "
    "library_versions"
)
_JSON_COLUMNS = ("config", "metrics", "folds", "row_counts", "library_versions")


class ModelNotFoundError(LookupError):
    """No model matches the name/version asked for (or none has been trained yet)."""


class UnservableModelError(ValueError):
    """A model whose metrics are not finite (training diverged): never stored nor activated."""


@dataclass(frozen=True)
class LoadedModel:
    """A model read back from the registry, ready to score."""

    name: str
    version: int
    created_at: datetime
    model: BaggedBoostedTrees


@dataclass(frozen=True)
class Predictions:
    """Test rows scored by the servable model, stored so mistakes can be joined to digits."""

    ids: np.ndarray  # (n,) digits.id
    labels: np.ndarray  # (n,) true digits
    probabilities: np.ndarray  # (n,10)


@dataclass(frozen=True)
class ModelRecord:
    """Everything ``save_model`` stores about one training run."""

    model: BaggedBoostedTrees  # the servable model (the first fold's)
    config: dict[str, Any]  # ExperimentConfig.to_dict()
    metrics: dict[str, Any]
    folds: list[dict[str, str]]
    row_counts: list[dict[str, int]]
    confusions: list[list[list[int]]]  # one 10x10 test confusion matrix per fold
    seconds: float
    predictions: Predictions | None = None

    @cached_property
    def blob(self) -> bytes:
        """The model serialized once (compression takes a while on big models)."""
        return self.model.to_bytes()


def ensure_registry(con: duckdb.DuckDBPyConnection) -> None:
    """Create the registry tables and views if missing, renaming an older file's (writable)."""
    registry_names.upgrade(con)
    db.run_script(con, "models.sql")


def _has_registry(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the registry exists (checked first: a failed query would abort a transaction).

    A writable connection to a file with the old names upgrades it here, in one transaction.
    """
    if not db.table_exists(con, "models_summary"):
        return False
    if registry_names.outdated(con) and registry_names.writable(con):
        with db.transaction(con):
            ensure_registry(con)
    return True


def library_versions() -> dict[str, str]:
    """The versions that trained a model, for reproducing it later."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "lightgbm": lightgbm.__version__,
        "duckdb": duckdb.__version__,
        "mlpaint": mlpaint.__version__,
    }


def check_metrics(metrics: dict[str, Any], what: str) -> None:
    """Raise ``UnservableModelError`` when ``metrics`` hold a NaN or an infinity."""
    found = first_non_finite(metrics)
    if found:
        raise UnservableModelError(
            f"{what}: its metrics are not finite ({found}); training diverged"
        )


def save_model(con: duckdb.DuckDBPyConnection, name: str, record: ModelRecord) -> int:
    """Store a trained model as the next version of ``name`` in one transaction; return it."""
    # A diverged model predicts NaN probabilities; serving it would answer nothing useful.
    check_metrics(record.metrics, f"model {name} was not stored")
    blob = record.blob
    with db.transaction(con):
        ensure_registry(con)
        row = db.query_one(
            con, "SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = ?", [name]
        )
        version = int(row[0]) if row else 1
        con.execute(
            "INSERT INTO models (name, version, created_at, config, metrics, model, folds, "
            "row_counts, n_trees, size_bytes, seconds, library_versions) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                version,
                datetime.now(timezone.utc).replace(tzinfo=None),
                json.dumps(record.config),
                json.dumps(record.metrics),
                blob,
                json.dumps(record.folds),
                json.dumps(record.row_counts),
                record.model.n_trees,
                len(blob),
                record.seconds,
                json.dumps(library_versions()),
            ],
        )
        _insert(con, "model_confusion", _confusion_table(name, version, record.confusions))
        if record.predictions is not None:
            _insert(con, "model_predictions", _predictions_table(name, version, record.predictions))
    return version


def _confusion_table(name: str, version: int, confusions: list[list[list[int]]]) -> pa.Table:
    """All 100 cells of each fold's confusion matrix, one row each."""
    counts = np.asarray(confusions, dtype=np.int32)  # (folds, actual, predicted)
    fold, actual, predicted = np.indices(counts.shape)
    return pa.table(
        {
            "name": [name] * counts.size,
            "version": np.full(counts.size, version, dtype=np.int32),
            "fold": fold.ravel().astype(np.int32),
            "actual": actual.ravel().astype(np.uint8),
            "predicted": predicted.ravel().astype(np.uint8),
            "n": counts.ravel(),
        }
    )


def _predictions_table(name: str, version: int, predictions: Predictions) -> pa.Table:
    """One row per scored test digit."""
    probs = np.ascontiguousarray(predictions.probabilities, dtype=np.float32)
    n = len(probs)
    return pa.table(
        {
            "name": [name] * n,
            "version": np.full(n, version, dtype=np.int32),
            "id": np.asarray(predictions.ids, dtype=np.int32),
            "label": np.asarray(predictions.labels, dtype=np.uint8),
            "predicted": probs.argmax(axis=1).astype(np.uint8),
            "probabilities": pa.FixedSizeListArray.from_arrays(pa.array(probs.ravel()), N_CLASSES),
        }
    )


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Append an Arrow table to a registry table, matching columns by name."""
    view = "_mlpaint_registry_rows"
    con.register(view, rows)
    try:
        con.execute(
            f"INSERT INTO {db.quote_identifier(table)} BY NAME "
            f"SELECT * FROM {db.quote_identifier(view)}"
        )
    finally:
        con.unregister(view)


def list_models(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every model, oldest name/version first, with its headline test metrics."""
    if not _has_registry(con):
        return []
    cursor = con.execute(f"SELECT {_SUMMARY_COLUMNS} FROM models_summary ORDER BY name, version")
    keys = [d[0] for d in cursor.description]
    return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


def active_model_ref(con: duckdb.DuckDBPyConnection) -> tuple[str, int] | None:
    """(name, version) of the active model: the pinned one, else the newest; None if none."""
    if not _has_registry(con):
        return None
    view = db.quote_identifier(registry_names.active_view(con))
    row = db.query_one(con, f"SELECT name, version FROM {view}")
    return (row[0], int(row[1])) if row else None


def resolve(
    con: duckdb.DuckDBPyConnection, name: str | None = None, version: int | None = None
) -> tuple[str, int]:
    """(name, version) of an existing model: None name = active, None version = newest of name."""
    if name is None:
        if version is not None:
            raise ValueError("a model version needs a model name")
        ref = active_model_ref(con)
        if ref is None:
            raise ModelNotFoundError("no model has been trained yet (run `mlpaint train`)")
        return ref
    row = None
    if _has_registry(con):
        row = db.query_one(
            con,
            "SELECT max(version) FROM models WHERE name = ? AND (? IS NULL OR version = ?)",
            [name, version, version],
        )
    if not row or row[0] is None:
        which = name if version is None else f"{name} version {version}"
        raise ModelNotFoundError(f"no model {which} (see `mlpaint models`)")
    return name, int(row[0])


def activate(
    con: duckdb.DuckDBPyConnection, name: str, version: int | None = None
) -> tuple[str, int]:
    """Pin a model (None version = the newest of ``name``), making it the active model."""
    ref = resolve(con, name, version)
    # Models stored before metrics were checked on saving may hold NaN: never pin one.
    row = db.query_one(con, "SELECT metrics FROM models WHERE name = ? AND version = ?", list(ref))
    if row is not None:
        check_metrics(json.loads(row[0]), f"model {ref[0]} version {ref[1]} cannot serve")
    with db.transaction(con):
        con.execute("DELETE FROM pinned_model")
        con.execute("INSERT INTO pinned_model VALUES (?, ?)", list(ref))
    return ref


def unpin(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the pin, so the newest model is active again."""
    if _has_registry(con):
        con.execute("DELETE FROM pinned_model")


def get_model_info(
    con: duckdb.DuckDBPyConnection, name: str, version: int | None = None
) -> dict[str, Any]:
    """Everything stored about a model except its blob: config, metrics, confusion per fold."""
    name, version = resolve(con, name, version)
    cursor = con.execute(
        f"SELECT {_INFO_COLUMNS} FROM models WHERE name = ? AND version = ?", [name, version]
    )
    keys = [d[0] for d in cursor.description]
    info = dict(zip(keys, cursor.fetchall()[0], strict=True))
    for key in _JSON_COLUMNS:
        info[key] = json.loads(info[key])
    info["active"] = active_model_ref(con) == (name, version)
    info["confusion"] = _confusions(con, name, version, len(info["folds"]))
    column = db.quote_identifier(registry_names.name_column(con, "model_predictions"))
    count = db.query_one(
        con,
        f"SELECT count(*) FROM model_predictions WHERE {column} = ? AND version = ?",
        [name, version],
    )
    info["n_predictions"] = int(count[0]) if count else 0
    return info


def _confusions(
    con: duckdb.DuckDBPyConnection, name: str, version: int, n_folds: int
) -> list[list[list[int]]]:
    """The stored test confusion matrices, one 10x10 list (rows = actual) per fold."""
    matrices = np.zeros((n_folds, N_CLASSES, N_CLASSES), dtype=np.int64)
    column = db.quote_identifier(registry_names.name_column(con, "model_confusion"))
    rows = con.execute(
        "SELECT fold, actual, predicted, n FROM model_confusion "
        f"WHERE {column} = ? AND version = ?",
        [name, version],
    ).fetchall()
    for fold, actual, predicted, n in rows:
        matrices[fold, actual, predicted] = n
    return matrices.tolist()


def load_model(
    con: duckdb.DuckDBPyConnection, name: str | None = None, version: int | None = None
) -> LoadedModel:
    """Load a model (None name = the active one, None version = the newest of ``name``)."""
    name, version = resolve(con, name, version)
    row = db.query_one(
        con, "SELECT created_at, model FROM models WHERE name = ? AND version = ?", [name, version]
    )
    if row is None:  # removed between resolve and here
        raise ModelNotFoundError(f"no model {name} version {version}")
    return LoadedModel(name, version, row[0], BaggedBoostedTrees.from_bytes(bytes(row[1])))
