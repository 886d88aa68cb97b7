"""The distortions handwriting has, on batches of 28x28 float images, with ``scipy.ndimage``.

``warp`` moves every pixel at once: a small rotation, a scale change and an elastic field (Simard
et al., 2003: uniform noise smoothed by a Gaussian), one ``map_coordinates`` call per batch.
``lowres`` is a low-resolution round trip: box-averaged down to a few pixels a side and blown back
up blocky, as a small scan or a thumbnail arrives. The augmentation (``mlpaint.preprocess``) draws
the amounts; everything here is deterministic given them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mlpaint.pixels import CENTRE, SIDE

ELASTIC_SIGMA = 4.0  # smoothing of the displacement field, in pixels (Simard's setting)
LOWRES_SIDES = (7, 14)  # a round trip goes down to a side drawn from this range, inclusive


def warp(
    images: np.ndarray,
    angles: np.ndarray,
    scales: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Rotate by ``angles`` (degrees), scale by ``scales`` about the centre, then bend elastically.

    ``alpha`` is the elastic field's strength (0: none); the field is drawn from ``rng``.
    """
    n = len(images)
    grid_r, grid_c = np.mgrid[:SIDE, :SIDE].astype(np.float64) - CENTRE
    theta = np.deg2rad(angles)[:, None, None]
    inverse = 1.0 / scales[:, None, None]
    # Each output pixel reads the source where the inverse rotation and scale send it.
    src_r = inverse * (np.cos(theta) * grid_r + np.sin(theta) * grid_c) + CENTRE
    src_c = inverse * (-np.sin(theta) * grid_r + np.cos(theta) * grid_c) + CENTRE
    if alpha > 0:
        field = rng.uniform(-1.0, 1.0, size=(2, n, SIDE, SIDE))
        field = ndimage.gaussian_filter(field, sigma=(0, 0, ELASTIC_SIGMA, ELASTIC_SIGMA))
        src_r = src_r + alpha * field[0]
        src_c = src_c + alpha * field[1]
    index = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], src_r.shape)
    return ndimage.map_coordinates(images, [index, src_r, src_c], order=1, cval=0.0)


def lowres(images: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """Each image box-averaged down to ``sides[i]`` pixels a side and area-resampled back up."""
    out = np.empty_like(images)
    for i, side in enumerate(sides):
        # Block edges on a fine common grid (SIDE * side) make both steps exact box operations.
        fine = np.repeat(np.repeat(images[i], side, axis=0), side, axis=1)
        small = fine.reshape(side, SIDE, side, SIDE).mean(axis=(1, 3))
        out[i] = (
            np.repeat(np.repeat(small, SIDE, axis=0), SIDE, axis=1)
            .reshape(SIDE, side, SIDE, side)
            .mean(axis=(1, 3))
        )
    return out
