"""The digit's facts (a 28x28 grey image, ten classes) and the checks that a value holds one.

Every module that reads pixels checks them here: an Arrow list column from SQL (``arrow_matrix``),
a NumPy array (``numpy_rows``), and the values themselves (``to_uint8``). What differs between
callers (NULL rows kept or refused, floats rounded or refused unless whole) is an argument.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SIDE = 28
N_PIXELS = SIDE * SIDE  # row-major, as in the IDX files
N_CLASSES = 10  # the digits 0..9
INK = 255  # the darkest grey level; 0 is paper
# MNIST puts each digit's centre of mass at (14, 14) in pixel-index coordinates (measured mean
# 13.996, 14.007), half a pixel off the geometric centre; images.py and deskew follow it.
CENTRE = SIDE / 2


class PixelError(ValueError):
    """Values that are not a digit's pixels; the message starts with where they came from."""


def numpy_rows(pixels: np.ndarray, *, single: bool = True) -> tuple[np.ndarray, bool]:
    """(n,784) rows of (n,784) pixels, or of one (784,) row if ``single``; and whether it was."""
    arr = np.asarray(pixels)
    shapes = "(784,) or (n, 784)" if single else "(n, 784)"
    if arr.ndim not in ((1, 2) if single else (2,)) or arr.shape[-1] != N_PIXELS:
        raise PixelError(f"expected pixels of shape {shapes}, got {arr.shape}")
    return arr.reshape(-1, N_PIXELS), arr.ndim == 1


def arrow_matrix(
    column: pa.ChunkedArray | pa.Array,
    where: str,
    name: str = "pixels",
    *,
    keep_nulls: bool,
    whole: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """A list column of 784 numbers 0..255 a row as (valid mask, (n_valid, 784) uint8).

    ``keep_nulls``: a NULL row is left out (and marked in the mask) instead of refused.
    ``whole``: see ``to_uint8``. Errors start with ``where`` and name the column ``name``.
    """
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if array.null_count:
        if not keep_nulls:
            raise PixelError(f"{where}: {name} is NULL in {array.null_count} rows")
        array = array.filter(pa.array(valid))
    _check_lengths(array, where, name)
    flat = array.flatten()
    if flat.null_count:
        raise PixelError(f"{where}: {name} must not contain NULL values")
    if not (pa.types.is_integer(flat.type) or pa.types.is_floating(flat.type)):
        raise PixelError(f"{where}: {name} must hold integers or floats, not {flat.type}")
    values = to_uint8(flat.to_numpy(zero_copy_only=False), where, whole=whole)
    return valid, values.reshape(-1, N_PIXELS)


def _check_lengths(array: pa.Array, where: str, name: str) -> None:
    """Every list holds 784 values (a fixed-size list type says so without a pass)."""
    if pa.types.is_fixed_size_list(array.type):
        wrong = [] if array.type.list_size == N_PIXELS else [array.type.list_size]
    else:
        lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
        wrong = lengths[lengths != N_PIXELS][:1].tolist()
    if wrong and len(array):
        raise PixelError(f"{where}: {name} must hold 784 values, got a list of {wrong[0]}")


def to_uint8(values: np.ndarray, where: str, *, whole: bool) -> np.ndarray:
    """Numbers 0..255 as uint8; floats round to the nearest unless ``whole`` refuses fractions."""
    floats = values.dtype.kind == "f"
    rounded = np.rint(values) if floats else values
    # min and max are one fast pass each on the common, valid case; NaN fails both comparisons.
    ok = values.size == 0 or bool(values.min() >= 0 and values.max() <= INK)
    if ok and whole and floats:
        ok = bool(np.array_equal(values, rounded))
    if not ok:
        bad = ~((values >= 0) & (values <= INK))
        if whole:
            bad |= values != rounded
        rule = "be whole numbers 0..255" if whole else "lie in 0..255"
        raise PixelError(f"{where}: pixel values must {rule}, got {values[bad.argmax()]}")
    return rounded.astype(np.uint8, copy=False)
