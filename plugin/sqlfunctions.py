"""Every SQL function mlpaint adds to DuckDB, registered in one place.

``ml_scores(pixels)`` FLOAT[10], ``ml_probabilities(pixels)`` FLOAT[10], ``ml_predict(pixels)``
UTINYINT, ``ml_explain(pixels, label)`` FLOAT[784] and ``ml_explain_bias(label)`` FLOAT use the
active model (or the one named to :func:`register`); ``<model>_scores`` and friends use one model
by name, so two models can be compared in one query. ``pixels`` is any list of 784 numbers
0..255; a NULL input gives NULL, anything else malformed is an error naming the function.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlpaint import db, registry
from mlpaint.explain import explain
from mlpaint.model import BaggedBoostedTrees

PIXELS = 784
DIGITS = 10
# Type names, not duckdb.sqltype() objects: building those at import starts DuckDB's default
# instance, whose threads a forked server worker would inherit (and crash on at exit).
PIXELS_TYPE = "DOUBLE[]"  # every numeric list casts to it implicitly
LABEL_TYPE = "BIGINT"  # every integer type casts to it
SUFFIXES = ("scores", "probabilities", "predict", "explain", "explain_bias")


class ModelSlot:
    """The model behind a family of functions; swapping it re-points them without re-registering."""

    def __init__(self, model: BaggedBoostedTrees, name: str, version: int) -> None:
        self._lock = threading.Lock()
        self.set(model, name, version)

    def set(self, model: BaggedBoostedTrees, name: str, version: int) -> None:
        """Point the functions at another model."""
        with self._lock:
            self.model, self.name, self.version = model, name, version


Loader = Callable[[str | None, int | None], registry.LoadedModel]


def register(
    con: duckdb.DuckDBPyConnection,
    model: str | None = None,
    version: int | None = None,
    *,
    load: Loader | None = None,
) -> ModelSlot:
    """Register ``ml_*`` (for ``model``, default the active one) and ``<name>_*`` for each model."""
    load = load or (lambda name, ver: registry.load_model(con, name, ver))
    chosen = load(model, version)
    slot = ModelSlot(chosen.model, chosen.name, chosen.version)
    register_family(con, "ml", slot)
    for name in _model_names(con):
        if db.is_plain_identifier(name):
            named = chosen if name == chosen.name else load(name, None)
            register_family(con, name, ModelSlot(named.model, named.name, named.version))
    return slot


def register_if_available(con: duckdb.DuckDBPyConnection) -> ModelSlot | None:
    """Register the functions when the database holds a model; return None when it holds none."""
    try:
        return register(con)
    except registry.ModelNotFoundError:
        return None


def _model_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted({entry["name"] for entry in registry.list_models(con)})


def register_family(con: duckdb.DuckDBPyConnection, prefix: str, slot: ModelSlot) -> None:
    """Register ``<prefix>_scores`` ... ``<prefix>_explain_bias`` backed by ``slot``."""
    specs: list[tuple[str, Callable[..., pa.Array], list[str], str]] = [
        ("scores", _scores_fn(slot, f"{prefix}_scores"), [PIXELS_TYPE], "FLOAT[10]"),
        ("probabilities", _proba_fn(slot, f"{prefix}_probabilities"), [PIXELS_TYPE], "FLOAT[10]"),
        ("predict", _predict_fn(slot, f"{prefix}_predict"), [PIXELS_TYPE], "UTINYINT"),
        (
            "explain",
            _explain_fn(slot, f"{prefix}_explain"),
            [PIXELS_TYPE, LABEL_TYPE],
            "FLOAT[784]",
        ),
        ("explain_bias", _bias_fn(slot, f"{prefix}_explain_bias"), [LABEL_TYPE], "FLOAT"),
    ]
    for suffix, function, params, returns in specs:
        name = f"{prefix}_{suffix}"
        _drop_if_registered(con, name)
        types = [con.sqltype(param) for param in params]
        con.create_function(
            name, function, types, con.sqltype(returns), type="arrow", null_handling="special"
        )


def _drop_if_registered(con: duckdb.DuckDBPyConnection, name: str) -> None:
    with contextlib.suppress(duckdb.InvalidInputException, duckdb.CatalogException):
        con.remove_function(name)


def pixels_matrix(
    function: str, column: pa.ChunkedArray | pa.Array
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a list column into (valid mask, (n_valid, 784) uint8 pixels), or raise naming it."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    present = array.filter(pa.array(valid))
    lengths = pc.list_value_length(present).to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != PIXELS).any():
        bad = int(lengths[lengths != PIXELS][0])
        raise ValueError(f"{function}: pixels must hold 784 values, got a list of {bad}")
    flat = present.flatten()
    if flat.null_count:
        raise ValueError(f"{function}: pixels must not contain NULL values")
    values = flat.to_numpy(zero_copy_only=False)
    # Written so that NaN (whose comparisons are all false) fails it too, in two passes.
    if len(values) and not (values.min() >= 0 and values.max() <= 255):
        raise ValueError(f"{function}: pixel values must lie in 0..255")
    return valid, np.rint(values).astype(np.uint8).reshape(-1, PIXELS)


def _labels(function: str, column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    labels = array.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if ((labels < 0) | (labels > 9))[valid].any():
        raise ValueError(f"{function}: label must be a digit 0..9")
    return valid, labels


def _with_nulls(valid: np.ndarray, values: np.ndarray, width: int | None) -> pa.Array:
    """Spread per-valid-row results back over all rows, NULL where the input was NULL."""
    full = np.zeros((len(valid), *values.shape[1:]), dtype=values.dtype)
    full[valid] = values
    if width is None:
        return pa.array(full, mask=~valid)
    mask = pa.array(~valid)
    flat = pa.array(full.reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, width, mask=mask)


def _per_row(
    slot: ModelSlot,
    function: str,
    compute: Callable[[BaggedBoostedTrees, np.ndarray], np.ndarray],
    width: int | None,
) -> Callable[[pa.ChunkedArray], pa.Array]:
    """A pixels -> value function: NULL rows stay NULL, the model sees only the others."""

    def apply(pixels: pa.ChunkedArray) -> pa.Array:
        valid, matrix = pixels_matrix(function, pixels)
        values = compute(slot.model, matrix) if len(matrix) else _empty(width)
        return _with_nulls(valid, values, width)

    apply.__name__ = function
    return apply


def _empty(width: int | None) -> np.ndarray:
    return np.zeros((0, width) if width else (0,), dtype=np.float32)


def _scores_fn(slot: ModelSlot, function: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    return _per_row(slot, function, lambda m, x: m.scores(x).astype(np.float32), DIGITS)


def _proba_fn(slot: ModelSlot, function: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    return _per_row(slot, function, lambda m, x: m.probabilities(x).astype(np.float32), DIGITS)


def _predict_fn(slot: ModelSlot, function: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    return _per_row(slot, function, lambda m, x: m.predict(x).astype(np.uint8), None)


def _explain_fn(
    slot: ModelSlot, function: str
) -> Callable[[pa.ChunkedArray, pa.ChunkedArray], pa.Array]:
    def ml_explain(pixels: pa.ChunkedArray, label: pa.ChunkedArray) -> pa.Array:
        valid_pixels, matrix = pixels_matrix(function, pixels)
        valid_labels, labels = _labels(function, label)
        result = np.zeros((len(valid_pixels), PIXELS), dtype=np.float32)
        if len(matrix):
            # Queries like `FROM sample, range(10) t(d)` repeat each image once per digit, and
            # one TreeSHAP pass explains all ten digits: explain each distinct image once.
            unique, inverse = np.unique(matrix, axis=0, return_inverse=True)
            values = explain(slot.model, unique).values  # (n_unique, 10, 784)
            result[valid_pixels] = values[inverse.reshape(-1), labels[valid_pixels]]
        valid = valid_pixels & valid_labels
        return _with_nulls(valid, result[valid], PIXELS)

    return ml_explain


def _bias_fn(slot: ModelSlot, function: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    def ml_explain_bias(label: pa.ChunkedArray) -> pa.Array:
        valid, labels = _labels(function, label)
        return _with_nulls(valid, expected_scores(slot.model)[labels[valid]], None)

    return ml_explain_bias


def expected_scores(model: BaggedBoostedTrees) -> np.ndarray:
    """The SHAP base value per digit: the bias every explanation of this model starts from."""
    return explain(model, np.zeros((0, PIXELS), dtype=np.uint8), prepared=True).bias
