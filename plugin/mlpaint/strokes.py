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
    grow = ndimage.grey_dilation if radius > 0 else ndimage.grey_erosion
    fine = grow(fine, footprint=_disk(abs(radius)))
    back = Image.fromarray(fine, mode="F").resize((width_, height), Image.Resampling.BOX)
    reshaped = np.clip(np.asarray(back, dtype=np.float64), 0.0, None)
    return reshaped if reshaped.max() > 0.5 * glyph.max() else glyph  # never wear it away
