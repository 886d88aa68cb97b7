"""Stroke width: the disk filter that grows or wears strokes, against scipy's own."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mlpaint import strokes


@pytest.mark.parametrize("grow", [True, False])
def test_the_disk_filter_equals_scipys_grey_morphology_with_a_disk(grow: bool) -> None:
    rng = np.random.default_rng(0)
    reference = ndimage.grey_dilation if grow else ndimage.grey_erosion
    # Whole and fractional radii: a fractional one may leave the disk's outer rows empty.
    for radius in [1.0, 1.3, 2.0, 2.8, 3.27, 4.5, 5.6, 7.9, 8.0]:
        image = rng.random((rng.integers(20, 180), rng.integers(20, 180))).astype(np.float32)
        expected = reference(image, footprint=strokes._disk(radius))
        got = strokes.disk_filter(image, radius, grow=grow)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected, err_msg=f"radius {radius}")
