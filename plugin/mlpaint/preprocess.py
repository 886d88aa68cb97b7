"""Image preprocessing for 28x28 digits: moment-based deskewing and training-time augmentation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlpaint import distortions
from mlpaint.knobs import PROBABILITY, Bounds, check_knobs
from mlpaint.pixels import CENTRE, INK, N_PIXELS, SIDE, numpy_rows
from mlpaint.workpool import map_in_processes

_CHUNK = 8192  # rows per vectorised block: bounds the float64 temporaries to ~50 MB each


def _as_images(pixels: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return (n,28,28) float64 images and whether the input was a single (784,) row."""
    rows, single = numpy_rows(pixels)
    return rows.reshape(-1, SIDE, SIDE).astype(np.float64), single


def _to_uint8(images: np.ndarray, single: bool) -> np.ndarray:
    """Round and clip (n,28,28) floats back to the (n,784) or (784,) uint8 layout."""
    out = np.clip(np.rint(images), 0, INK).astype(np.uint8).reshape(-1, N_PIXELS)
    return out[0] if single else out


_AXIS = np.arange(SIDE, dtype=np.float64)


def _sample(lines: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Linearly interpolate ``lines`` (..., 28) at fractional ``positions``; outside is paper."""
    width = SIDE + 2
    padded = np.zeros((*lines.shape[:-1], width))
    padded[..., 1:-1] = lines
    # Clamped positions past either end land on the zero padding (low + 1 stays inside).
    pos = np.clip(positions + 1.0, 0.0, SIDE + 1 - 1e-9)
    low = pos.astype(np.intp)
    frac = pos - low
    # Flat indices into the padded lines: np.take is far cheaper than take_along_axis per call.
    starts = np.arange(0, padded.size, width).reshape(*padded.shape[:-1], 1)
    flat = padded.reshape(-1)
    below = np.take(flat, low + starts)
    above = np.take(flat, low + starts + 1)
    return below + frac * (above - below)


def _moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per image: centre of mass (row, column), shear cov(r,c)/var(r), and whether it has ink."""
    row_mass, col_mass = images.sum(axis=2), images.sum(axis=1)
    total = row_mass.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    mr, mc = row_mass @ _AXIS / safe, col_mass @ _AXIS / safe
    var_r = row_mass @ (_AXIS * _AXIS) / safe - mr * mr
    cov = np.einsum("nij,i,j->n", images, _AXIS, _AXIS) / safe - mr * mc
    shear = np.where(var_r > 1e-6, cov / np.maximum(var_r, 1e-6), 0.0)
    return mr, mc, shear, total > 0


def _deskew_block(images: np.ndarray) -> np.ndarray:
    """Shear each image so its principal axis is vertical and its mass sits at the centre."""
    mr, mc, shear, inked = _moments(images)
    # Output (r, c) reads the source at (r + mr - C, c + mc - C + shear * (r - C)). The column
    # offset depends on the output row only, so bilinear sampling splits into a vertical shift
    # (the same for every pixel) and then a horizontal shift per row.
    rows = _AXIS[None, :] + (mr - CENTRE)[:, None]
    shifted = _sample(images.transpose(0, 2, 1), rows[:, None, :]).transpose(0, 2, 1)
    col_offset = (mc - CENTRE)[:, None] + shear[:, None] * (_AXIS - CENTRE)[None, :]
    out = _sample(shifted, _AXIS[None, None, :] + col_offset[:, :, None])
    return np.where(inked[:, None, None], out, images)


def deskew(pixels: np.ndarray) -> np.ndarray:
    """Deskew (n,784) or (784,) uint8 digits with an affine shear from their image moments."""
    images, single = _as_images(pixels)
    out = np.empty_like(images)
    for start in range(0, len(images), _CHUNK):
        out[start : start + _CHUNK] = _deskew_block(images[start : start + _CHUNK])
    return _to_uint8(out, single)


@dataclass(frozen=True)
class AugmentSpec:
    """Training-time augmentation: extra randomly distorted copies of each bag's training rows."""

    copies: int = 0  # distorted copies added per training row; 0 = off
    max_shift: int = 0  # each copy moves by up to this many pixels along each axis
    thicken: float = 0.0  # probability that a copy's strokes are dilated (3x3 cross)
    thin: float = 0.0  # probability that a copy's strokes are eroded instead
    blur: float = 0.0  # probability that a copy is blurred with a 3x3 binomial kernel
    rotate: float = 0.0  # each copy turns by up to this many degrees either way
    scale: float = 0.0  # each copy grows or shrinks by up to this share (0.1: 90% to 110%)
    elastic: float = 0.0  # strength of an elastic distortion (Simard's alpha, in pixels)
    lowres: float = 0.0  # probability of a low-resolution round trip (mlpaint.distortions)

    def __post_init__(self) -> None:
        """Reject mistyped or out-of-range knobs with a message naming the key."""
        check_knobs(self, AUGMENT_BOUNDS, "augment")

    @property
    def enabled(self) -> bool:
        """Whether any augmented copies are produced."""
        return self.copies > 0


# Each copy adds every training row again: 10 copies of 60,000 digits are ~0.5 GB per bag.
AUGMENT_BOUNDS = {
    "copies": Bounds(0, 10),
    "max_shift": Bounds(0, 4),  # MNIST's blank border is 4 pixels: more pushes ink off
    "thicken": PROBABILITY,
    "thin": PROBABILITY,
    "blur": PROBABILITY,
    "rotate": Bounds(0.0, 45.0),
    "scale": Bounds(0.0, 0.5),
    "elastic": Bounds(0.0, 100.0),
    "lowres": PROBABILITY,
}


def _shift(images: np.ndarray, dr: np.ndarray, dc: np.ndarray) -> np.ndarray:
    """Translate each image by integer (dr, dc), filling with paper."""
    grid_r, grid_c = np.mgrid[:SIDE, :SIDE]
    src_r = grid_r[None] - dr[:, None, None]
    src_c = grid_c[None] - dc[:, None, None]
    inside = (src_r >= 0) & (src_r < SIDE) & (src_c >= 0) & (src_c < SIDE)
    idx = np.arange(len(images))[:, None, None]
    out = images[idx, np.clip(src_r, 0, SIDE - 1), np.clip(src_c, 0, SIDE - 1)]
    return np.where(inside, out, 0.0)


def _neighbours(images: np.ndarray) -> list[np.ndarray]:
    """The image and its four axis neighbours (zero padded), for 3x3 cross morphology."""
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    return [p[:, 1:-1, 1:-1], p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]]


def _blur(images: np.ndarray) -> np.ndarray:
    """Blur with the separable 3x3 binomial kernel [1, 2, 1] / 4."""
    p = np.pad(images, ((0, 0), (1, 1), (0, 0)))
    rows = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) / 4
    p = np.pad(rows, ((0, 0), (0, 0), (1, 1)))
    return (p[:, :, :-2] + 2 * p[:, :, 1:-1] + p[:, :, 2:]) / 4


def _distort(images: np.ndarray, spec: AugmentSpec, rng: np.random.Generator) -> np.ndarray:
    """One randomly distorted copy of each image."""
    n = len(images)
    shifts = rng.integers(-spec.max_shift, spec.max_shift + 1, size=(2, n))
    out = _shift(images, shifts[0], shifts[1])
    draw = rng.random((3, n))[:, :, None, None]
    near = _neighbours(out)
    out = np.where(draw[0] < spec.thicken, np.maximum.reduce(near), out)
    out = np.where((draw[0] >= spec.thicken) & (draw[1] < spec.thin), np.minimum.reduce(near), out)
    out = np.where(draw[2] < spec.blur, _blur(out), out)
    # Drawn only when asked for, so that older configs make the same copies as before.
    if spec.rotate or spec.scale or spec.elastic:
        angles = rng.uniform(-spec.rotate, spec.rotate, n)
        scales = 1.0 + rng.uniform(-spec.scale, spec.scale, n)
        out = distortions.warp(out, angles, scales, spec.elastic, rng)
    if spec.lowres:
        chosen = np.flatnonzero(rng.random(n) < spec.lowres)
        low, high = distortions.LOWRES_SIDES
        scans = distortions.lowres(out[chosen], rng.integers(low, high + 1, len(chosen)))
        # The model deskews what the image path reads, so the copy is deskewed like an upload.
        out[chosen] = _deskew_block(scans)
    return out


def _distorted_block(job: tuple[np.ndarray, AugmentSpec, np.random.Generator]) -> np.ndarray:
    """One distorted copy of a block of (n, 784) uint8 rows: a job for ``map_in_processes``."""
    rows, spec, rng = job
    images, _ = _as_images(rows)
    return _to_uint8(_distort(images, spec, rng), single=False)


def augment(
    pixels: np.ndarray,
    labels: np.ndarray,
    spec: AugmentSpec,
    rng: np.random.Generator,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the rows followed by ``spec.copies`` distorted copies, with their labels.

    Each block of each copy draws from its own generator spawned from ``rng``, so the copies are
    the same whether one process makes them or ``workers`` processes share the blocks.
    """
    if not spec.enabled:
        return pixels, labels
    rows = np.asarray(pixels, dtype=np.uint8)
    blocks = [rows[start : start + _CHUNK] for start in range(0, len(rows), _CHUNK)]
    generators = rng.spawn(spec.copies * len(blocks))
    jobs = [(block, spec, gen) for block, gen in zip(blocks * spec.copies, generators, strict=True)]
    copies = map_in_processes(_distorted_block, jobs, workers)
    return np.concatenate([rows, *copies]), np.tile(np.asarray(labels), spec.copies + 1)
