"""The one home of the digit's facts and pixel checks, on lists DuckDB really produces."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from mlpaint import metrics, model, preprocess, sqlfunctions, trainingdata
from mlpaint.api import inputs
from mlpaint.pixels import (
    N_CLASSES,
    N_PIXELS,
    SIDE,
    PixelError,
    arrow_matrix,
    numpy_rows,
    to_uint8,
)


def column(sql: str) -> pa.ChunkedArray:
    """The first column of a DuckDB query, as the Arrow a SQL function or a training run sees."""
    con = duckdb.connect()
    try:
        return con.sql(sql).to_arrow_table().column(0)
    finally:
        con.close()


def test_the_facts_have_one_value() -> None:
    assert (SIDE, N_PIXELS, N_CLASSES) == (28, 784, 10)
    # The modules that used to define their own copies now read these.
    assert preprocess.N_PIXELS is N_PIXELS and preprocess.SIDE is SIDE
    assert model.N_CLASSES is N_CLASSES and metrics.N_CLASSES is N_CLASSES
    assert sqlfunctions.PIXELS is N_PIXELS and sqlfunctions.DIGITS is N_CLASSES
    assert inputs.N_PIXELS is N_PIXELS and trainingdata.N_PIXELS is N_PIXELS


def test_null_rows_are_kept_or_refused() -> None:
    rows = column("SELECT * FROM (VALUES (list_resize([7], 784, 0)), (NULL)) t(p)")
    valid, matrix = arrow_matrix(rows, "f", keep_nulls=True, whole=False)
    assert valid.tolist() == [True, False] and matrix.shape == (1, N_PIXELS)
    assert matrix.dtype == np.uint8 and matrix[0, 0] == 7
    with pytest.raises(PixelError, match=r"^where: features is NULL in 1 rows$"):
        arrow_matrix(rows, "where", "features", keep_nulls=False, whole=True)


def test_floats_are_rounded_or_refused_unless_whole() -> None:
    rows = column("SELECT list_resize([2.6::DOUBLE], 784, 0.0)")
    assert arrow_matrix(rows, "f", keep_nulls=True, whole=False)[1][0, 0] == 3
    with pytest.raises(
        PixelError, match=r"^k: pixel values must be whole numbers 0\.\.255, got 2\.6"
    ):
        arrow_matrix(rows, "k", keep_nulls=False, whole=True)
    whole = column("SELECT list_resize([3.0::DOUBLE], 784, 0.0)")
    assert arrow_matrix(whole, "k", keep_nulls=False, whole=True)[1][0, 0] == 3


@pytest.mark.parametrize("whole", [False, True])
@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT [1, 2, 3]", "x: pixels must hold 784 values, got a list of 3"),
        ("SELECT list_resize([0], 785, 0)::INTEGER[785]", "got a list of 785"),
        ("SELECT list_resize([NULL::INT], 784, 0)", "x: pixels must not contain NULL values"),
        ("SELECT list_resize([256], 784, 0)", r"x: pixel values must .*0\.\.255, got 256"),
        ("SELECT list_resize([-1.0::DOUBLE], 784, 0.0)", r"got -1\.0"),
        ("SELECT list_resize(['nan'::DOUBLE], 784, 0.0)", "got nan"),
        ("SELECT list_resize(['a'], 784, 'b')", "x: pixels must hold integers or floats"),
    ],
)
def test_malformed_lists_are_refused_by_every_caller(sql: str, message: str, whole: bool) -> None:
    with pytest.raises(PixelError, match=message):
        arrow_matrix(column(sql), "x", keep_nulls=True, whole=whole)


def test_a_fixed_size_column_is_read_without_a_length_pass() -> None:
    rows = column("SELECT list_resize([255], 784, 0)::UTINYINT[784] FROM range(3)")
    valid, matrix = arrow_matrix(rows, "f", keep_nulls=False, whole=True)
    assert valid.all() and matrix.shape == (3, N_PIXELS) and (matrix[:, 0] == 255).all()


def test_numpy_rows_take_one_row_or_many() -> None:
    rows, single = numpy_rows(np.zeros(N_PIXELS))
    assert rows.shape == (1, N_PIXELS) and single
    rows, single = numpy_rows(np.zeros((3, N_PIXELS)))
    assert rows.shape == (3, N_PIXELS) and not single
    with pytest.raises(PixelError, match=r"\(784,\) or \(n, 784\), got \(2, 10\)"):
        numpy_rows(np.zeros((2, 10)))
    with pytest.raises(PixelError, match=r"shape \(n, 784\), got \(784,\)"):
        numpy_rows(np.zeros(N_PIXELS), single=False)


def test_to_uint8_keeps_integers_exact() -> None:
    values = np.arange(256, dtype=np.int64)
    assert to_uint8(values, "w", whole=True).tolist() == list(range(256))
    assert to_uint8(np.zeros(0), "w", whole=True).shape == (0,)
