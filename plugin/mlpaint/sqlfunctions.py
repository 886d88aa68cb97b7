"""Every SQL function mlpaint adds to DuckDB, registered in one place.

``ml_scores(pixels)`` FLOAT[10], ``ml_probabilities(pixels)`` FLOAT[10], ``ml_predict(pixels)``
UTINYINT, ``ml_uncertainty(pixels)`` DOUBLE (0 sure .. 1, ``scoring.uncertainties``),
``ml_is_digit(pixels)`` BOOLEAN (the model's verdict), ``ml_bag_probabilities(pixels)`` each bag's
ten probabilities (DuckDB type ``FLOAT[10][B]`` for a model of B bags: B arrays of ten),
``ml_explain(pixels, label)`` FLOAT[784] and ``ml_explain_bias(label)`` FLOAT use the active model
(or the one named to :func:`register`); ``<model>_scores`` and friends use one model by name, so two
models can be compared in one query. ``pixels`` is any list of 784 numbers 0..255; a NULL input
gives NULL, anything else malformed is an error naming the function.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import duckdb
import numpy as np
import pyarrow as pa

from mlpaint import db, registry, scoring
from mlpaint.pixels import N_CLASSES as DIGITS
from mlpaint.pixels import N_PIXELS as PIXELS
from mlpaint.pixels import arrow_matrix
from mlpaint.registry import LoadedModel

# Type names, not duckdb.sqltype() objects: building those at import starts DuckDB's default
# instance, whose threads a forked server worker would inherit (and crash on at exit).
PIXELS_TYPE = "DOUBLE[]"  # every numeric list casts to it implicitly
LABEL_TYPE = "BIGINT"  # every integer type casts to it
# Rows per model call inside one DuckDB batch (2,048 rows): the time limit is checked between
# slices, so a batch of explanations (about 3 ms a row and digit) stops within a fraction of a
# second.
SCORE_SLICE = 512
EXPLAIN_SLICE = 64
SLOT_WAIT_S = 0.5  # how long a query waits for another one of its process to end


class QueryTimeoutError(TimeoutError):
    """A time-limited query ran past its deadline (inside an ml_* function, or waiting)."""


class QueryBusyError(RuntimeError):
    """Another time-limited query is running in this process."""


class _TimeLimit:
    """The deadline of the one time-limited query this process runs at a time.

    DuckDB calls the functions from its own threads, which cannot tell which query they serve;
    running one limited query per process at a time makes the deadline exact.
    """

    def __init__(self) -> None:
        self.slot = threading.Lock()
        self.deadline: float | None = None

    def check(self, function: str) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise QueryTimeoutError(f"{function}: the query ran past its time limit")


_LIMIT = _TimeLimit()


@contextmanager
def time_limit(deadline: float) -> Iterator[None]:
    """Run one query whose ml_* functions stop at ``deadline`` (time.monotonic).

    Waits at most ``SLOT_WAIT_S`` for another time-limited query of this process to end, then
    raises ``QueryBusyError``: a longer wait would hold a server thread that other requests
    (``/v1/health``, the scorer) need.
    """
    wait = min(SLOT_WAIT_S, max(0.0, deadline - time.monotonic()))
    if not _LIMIT.slot.acquire(timeout=wait):
        raise QueryBusyError("another query is running in this server process; try again")
    _LIMIT.deadline = deadline
    try:
        yield
    finally:
        _LIMIT.deadline = None
        _LIMIT.slot.release()


def _sliced(
    function: str, compute: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, size: int
) -> np.ndarray:
    """``compute`` over ``rows`` in slices of ``size``, checking the time limit before each."""
    parts = []
    for start in range(0, len(rows), size):
        _LIMIT.check(function)
        parts.append(compute(rows[start : start + size]))
    return np.concatenate(parts)


Loader = Callable[[str | None, int | None], LoadedModel]


def register(
    con: duckdb.DuckDBPyConnection,
    model: str | None = None,
    version: int | None = None,
    *,
    load: Loader | None = None,
) -> LoadedModel:
    """Register ``ml_*`` (for ``model``, default the active one) and ``<name>_*`` for each model."""
    load = load or (lambda name, ver: registry.load_model(con, name, ver))
    chosen = load(model, version)
    register_family(con, "ml", chosen)
    for name in _model_names(con):
        if db.is_plain_identifier(name):
            register_family(con, name, chosen if name == chosen.name else load(name, None))
    return chosen


def register_if_available(con: duckdb.DuckDBPyConnection) -> LoadedModel | None:
    """Register the functions when the database holds a model; return None when it holds none."""
    try:
        return register(con)
    except registry.ModelNotFoundError:
        return None


def _model_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted({entry["name"] for entry in registry.list_models(con)})


def register_family(con: duckdb.DuckDBPyConnection, prefix: str, loaded: LoadedModel) -> None:
    """Register ``<prefix>_scores`` ... ``<prefix>_explain_bias`` backed by ``loaded``."""
    specs: list[tuple[str, Callable[..., pa.Array], list[str], str]] = [
        ("scores", _scores_fn(loaded, f"{prefix}_scores"), [PIXELS_TYPE], "FLOAT[10]"),
        ("probabilities", _proba_fn(loaded, f"{prefix}_probabilities"), [PIXELS_TYPE], "FLOAT[10]"),
        ("predict", _predict_fn(loaded, f"{prefix}_predict"), [PIXELS_TYPE], "UTINYINT"),
        (
            "uncertainty",
            _per_row(loaded, f"{prefix}_uncertainty", scoring.uncertainties_of, ()),
            [PIXELS_TYPE],
            "DOUBLE",
        ),
        (
            "is_digit",
            _per_row(loaded, f"{prefix}_is_digit", scoring.is_digit, ()),
            [PIXELS_TYPE],
            "BOOLEAN",
        ),
        (
            "bag_probabilities",
            _per_row(
                loaded,
                f"{prefix}_bag_probabilities",
                scoring.bag_probabilities,
                (loaded.model.n_boosters, DIGITS),
            ),
            [PIXELS_TYPE],
            f"FLOAT[{DIGITS}][{loaded.model.n_boosters}]",
        ),
        (
            "explain",
            _explain_fn(loaded, f"{prefix}_explain"),
            [PIXELS_TYPE, LABEL_TYPE],
            "FLOAT[784]",
        ),
        ("explain_bias", _bias_fn(loaded, f"{prefix}_explain_bias"), [LABEL_TYPE], "FLOAT"),
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
    return arrow_matrix(column, function, keep_nulls=True, whole=False)


def _with_valid_mask(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
    """One Arrow array of the argument, and a mask of its non-NULL rows."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array, ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def _labels(function: str, column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    array, valid = _with_valid_mask(column)
    labels = array.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if ((labels < 0) | (labels > 9))[valid].any():
        raise ValueError(f"{function}: label must be a digit 0..9")
    return valid, labels


def _with_nulls(valid: np.ndarray, values: np.ndarray, shape: tuple[int, ...]) -> pa.Array:
    """Spread per-valid-row results back over all rows, NULL where the input was NULL.

    ``shape`` is one row's: () a scalar, (10,) a FLOAT[10], (bags, 10) a FLOAT[10][bags].
    """
    full = np.zeros((len(valid), *shape), dtype=values.dtype)
    full[valid] = values
    if not shape:
        return pa.array(full, mask=~valid)
    array: pa.Array = pa.array(full.reshape(-1))
    for size in reversed(shape[1:]):  # inner arrays first; only the outer one holds NULLs
        array = pa.FixedSizeListArray.from_arrays(array, size)
    return pa.FixedSizeListArray.from_arrays(array, shape[0], mask=pa.array(~valid))


def _per_row(
    loaded: LoadedModel,
    function: str,
    compute: Callable[[LoadedModel, np.ndarray], np.ndarray],
    shape: tuple[int, ...],
) -> Callable[[pa.ChunkedArray], pa.Array]:
    """A pixels -> value function: NULL rows stay NULL, the model sees only the others."""

    def apply(pixels: pa.ChunkedArray) -> pa.Array:
        valid, matrix = pixels_matrix(function, pixels)
        values = np.zeros((0, *shape), dtype=np.float32)
        if len(matrix):
            values = _sliced(function, lambda x: compute(loaded, x), matrix, SCORE_SLICE)
        return _with_nulls(valid, values, shape)

    apply.__name__ = function
    return apply


def _scores_fn(loaded: LoadedModel, function: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    return _per_row(loaded, function, scoring.scores, (DIGITS,))


def _proba_fn(loaded: LoadedModel, function: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    return _per_row(loaded, function, scoring.probabilities, (DIGITS,))


def _predict_fn(loaded: LoadedModel, function: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    return _per_row(loaded, function, scoring.predictions, ())


def _explain_fn(
    loaded: LoadedModel, function: str
) -> Callable[[pa.ChunkedArray, pa.ChunkedArray], pa.Array]:
    def ml_explain(pixels: pa.ChunkedArray, label: pa.ChunkedArray) -> pa.Array:
        valid_pixels, matrix = pixels_matrix(function, pixels)
        valid_labels, labels = _labels(function, label)
        valid = valid_pixels & valid_labels
        # Queries like `FROM sample, range(10) t(d)` repeat rows: explain each distinct (digit,
        # image) once, from that digit's trees alone, digit by digit (the label sorts first).
        keys = np.column_stack([labels[valid], matrix[valid[valid_pixels]]]).astype(np.uint8)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        values = np.zeros((0, PIXELS), np.float32)
        if len(unique):
            values = _sliced(
                function,
                lambda k: scoring.label_explanations(loaded, k[:, 1:], k[:, 0]),
                unique,
                EXPLAIN_SLICE,
            )
        return _with_nulls(valid, values[inverse.reshape(-1)], (PIXELS,))

    return ml_explain


def _bias_fn(loaded: LoadedModel, function: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    def ml_explain_bias(label: pa.ChunkedArray) -> pa.Array:
        valid, labels = _labels(function, label)
        return _with_nulls(valid, scoring.bias(loaded)[labels[valid]], ())

    return ml_explain_bias
