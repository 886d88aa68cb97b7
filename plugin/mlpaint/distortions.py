"""The distortions handwriting has, on batches of 28x28 float images, with ``scipy.ndimage``.

``warp`` moves every pixel at once: a small rotation, a scale change and an elastic field (Simard
et al., 2003: uniform noise smoothed by a Gaussian), one ``map_coordinates`` call per batch.
``lowres`` is a low-resolution round trip: box-averaged down to a few pixels a side, blown back up
blocky as a small scan or a thumbnail arrives, and read back through the scorer's image path. The
augmentation (``mlpaint.preprocess``) draws the amounts; everything here is deterministic given
them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from mlpaint.images import EmptyImageError, gray_to_pixels
from mlpaint.pixels import CENTRE, SIDE

ELASTIC_SIGMA = 4.0  # smoothing of the displacement field, in pixels (Simard's setting)
LOWRES_SIDES = (7, 14)  # a round trip goes down to a side drawn from this range, inclusive
# The blocky image is read at about this size: the answer differs from reading it on a 280 px
# canvas by about 5 grey levels a pixel on average (measured: 0.5..16 on 20 digits), at half the
# cost, and the model trained on it reads 8x8 scans as well (the README's robustness table).
LOWRES_WORK_SIDE = 112


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
    """Each image as the scorer reads a small scan of it, ``sides[i]`` pixels a side.

    The image is box-averaged down, blown back up blocky and read the way the scorer reads an
    upload (``mlpaint.images``). The copy is what the model will be shown for such an upload,
    so it learns that and not a blocky digit nobody sends (measured: the README's robustness
    table; 8x8 scans gain 3.5%).
    """
    out = np.array(images, dtype=np.float64)
    for i, side in enumerate(sides):
        small = Image.fromarray(out[i].astype(np.float32), mode="F")
        small = small.resize((int(side), int(side)), Image.Resampling.BOX)
        block = -(-LOWRES_WORK_SIDE // int(side))  # whole blocks, as a scaled-up scan has
        blocky = np.repeat(np.repeat(np.asarray(small), block, axis=0), block, axis=1)
        try:
            out[i] = gray_to_pixels(blocky).reshape(SIDE, SIDE)
        except EmptyImageError:  # too faint to read back: the scorer would refuse it
            continue
    return out
