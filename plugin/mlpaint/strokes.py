"""Stroke width: measure it on a glyph, and bring a fine pen or a marker into MNIST's range.

Width is twice the ink's area over its total variation (the length of its edges, both sides of
a stroke): an anti-aliased stroke's width in pixels, whatever its length. On MNIST's test digits
(20-px glyphs) it is 1.4 / 1.9 / 2.7 (10th percentile / median / 90th); a glyph outside
``RANGE`` is grown or worn (grey dilation or erosion by a disk, at ``FINE`` times the size) to
the range's nearer end.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

RANGE = (1.5, 2.6)  # widths (px on the 28x28 grid) left as they are
MAX_STEP = 1.0  # at most this many pixels grown or worn on each side of a stroke
FINE = 8  # the glyph is reshaped at this many times its size: eighth-pixel steps


def width(glyph: np.ndarray) -> float:
    """Stroke width in pixels: 2 x area / total variation (0 for an empty glyph)."""
    x = np.asarray(glyph, dtype=np.float64)
    peak = x.max()
    if peak <= 0:
        return 0.0
    x = x / peak
    edges = np.abs(np.diff(x, axis=0)).sum() + np.abs(np.diff(x, axis=1)).sum()
    return float(2 * x.sum() / edges) if edges > 0 else 0.0


def _disk(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    rows, cols = np.mgrid[-r : r + 1, -r : r + 1]
    return rows**2 + cols**2 <= radius**2 + 0.25


def disk_filter(image: np.ndarray, radius: float, *, grow: bool) -> np.ndarray:
    """Grey dilation (``grow``) or erosion of ``image`` by the disk of ``radius``.

    The disk is the union of the centred rectangles ``|dy| <= h``, ``|dx| <= w(h)`` (its
    half-width at row offset h), so the extreme over it is the extreme of the rectangles': each
    two 1-D passes, where a footprint filter visits every pixel of the disk. The result equals
    ``ndimage.grey_dilation`` (``grey_erosion``) with the disk as footprint exactly.
    """
    disk = _disk(radius)
    counts = disk[disk.shape[0] // 2 :].sum(axis=1)
    half_widths = counts[counts > 0] // 2  # rows 0, 1, ... below the centre; the last may be empty
    extreme, combine = (
        (ndimage.maximum_filter, np.maximum) if grow else (ndimage.minimum_filter, np.minimum)
    )
    result = None
    for h, w in enumerate(half_widths):
        if h + 1 < len(half_widths) and half_widths[h + 1] == w:  # inside the next, taller one
            continue
        part = extreme(image, size=(2 * h + 1, 2 * int(w) + 1))
        result = part if result is None else combine(result, part)
    return result


def normalise(glyph: np.ndarray) -> np.ndarray:
    """``glyph`` with its stroke width brought into ``RANGE``; the glyph grows by the change."""
    current = width(glyph)
    target = min(max(current, RANGE[0]), RANGE[1])
    # Measured width is smaller than the drawn one on diagonals: move by the difference.
    radius = float(np.clip(FINE * (target - current) / 2, -MAX_STEP * FINE, MAX_STEP * FINE))
    if current == 0 or abs(radius) < 1:
        return glyph
    pad = int(np.ceil(max(radius, 0) / FINE)) + 1
    padded = np.pad(glyph, pad)
    height, width_ = padded.shape
    big = Image.fromarray(padded.astype(np.float32), mode="F")
    fine = np.asarray(big.resize((width_ * FINE, height * FINE), Image.Resampling.BILINEAR))
    fine = disk_filter(fine, abs(radius), grow=radius > 0)
    back = Image.fromarray(fine, mode="F").resize((width_, height), Image.Resampling.BOX)
    reshaped = np.clip(np.asarray(back, dtype=np.float64), 0.0, None)
    return reshaped if reshaped.max() > 0.5 * glyph.max() else glyph  # never wear it away
