"""Named, seeded ways a digit gets captured: an MNIST digit in, an encoded image out.

Each kind takes a (784,) uint8 MNIST digit (ink 255 on paper 0) and a NumPy random generator and
returns the bytes of a PNG or JPEG, as a person's upload would reach the scorer's image input.
``KINDS`` is the one list the robustness bench (``bench/robustness.py``) and the tests share;
``capture(kind, digit, seed)`` is deterministic.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

from mlpaint.pixels import SIDE

CANVAS = 280  # the paint page's canvas: 10 screen px per MNIST px
Capture = Callable[[np.ndarray, np.random.Generator], bytes]


def encode(ink: np.ndarray, *, dark: bool = False, fmt: str = "PNG", quality: int = 90) -> bytes:
    """Bytes of a grey image of ``ink`` (0..255, 0 paper): light on black, or dark on white."""
    grey = np.clip(255.0 - ink if dark else ink, 0, 255)
    image = Image.fromarray(np.rint(grey).astype(np.uint8), mode="L")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def upscale(digit: np.ndarray, size: int = CANVAS) -> np.ndarray:
    """The digit as float ink 0..255 on a ``size`` square, smoothly interpolated."""
    image = Image.fromarray(np.asarray(digit, dtype=np.uint8).reshape(SIDE, SIDE), mode="L")
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)


def _disk(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    rows, cols = np.mgrid[-r : r + 1, -r : r + 1]
    return rows**2 + cols**2 <= radius**2


def _dark(rng: np.random.Generator) -> bool:
    """Either polarity, as scans (dark ink) and canvases (often light ink) come."""
    return bool(rng.random() < 0.5)


def lowres(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Down to 8x8 (box average) and back up to the canvas without smoothing: blocky."""
    image = Image.fromarray(np.asarray(digit, dtype=np.uint8).reshape(SIDE, SIDE), mode="L")
    small = image.resize((8, 8), Image.Resampling.BOX)
    big = np.asarray(small.resize((CANVAS, CANVAS), Image.Resampling.NEAREST), dtype=np.float64)
    return encode(big, dark=_dark(rng))


def blur(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A Gaussian blur of 0.6 to 1.2 MNIST pixels (sigma): an out-of-focus capture."""
    sigma = rng.uniform(0.6, 1.2) * CANVAS / SIDE
    return encode(ndimage.gaussian_filter(upscale(digit), sigma), dark=_dark(rng))


def thick(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A marker: strokes grown by 0.8 to 1.5 MNIST pixels on each side."""
    radius = rng.uniform(0.8, 1.5) * CANVAS / SIDE
    return encode(ndimage.grey_dilation(upscale(digit), footprint=_disk(radius)), dark=_dark(rng))


def thin(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A fine pen: the stroke worn down to about one MNIST pixel wide, unbroken, anti-aliased."""
    ink = upscale(digit) >= 96
    pieces = ndimage.label(ink)[1]
    thinner = ink
    for share in sorted(rng.uniform(0.3, 0.9, 4), reverse=True):  # the most that keeps it whole
        worn = ndimage.binary_erosion(ink, structure=_disk(share * CANVAS / SIDE))
        if worn.any() and ndimage.label(worn)[1] <= pieces:
            thinner = worn
            break
    return encode(ndimage.gaussian_filter(thinner * 255.0, 1.5), dark=_dark(rng))


def paper(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A phone photo of ink on paper: a lighting gradient, a shadow, grain, colour, JPEG."""
    height, width = 300, 400
    size = int(rng.integers(140, 260))
    top, left = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
    ink = np.zeros((height, width))
    ink[top : top + size, left : left + size] = upscale(digit, size) / 255.0
    rows, cols = np.mgrid[:height, :width] / max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    light = rng.uniform(170, 235) + rng.uniform(30, 70) * (
        np.cos(angle) * cols + np.sin(angle) * rows - 0.5
    )
    # A soft shadow over one side of the page, as a hand or a phone casts.
    edge = rng.uniform(0.2, 0.8)
    across = np.cos(angle + 1.3) * cols + np.sin(angle + 1.3) * rows
    light = light - rng.uniform(30, 70) / (1 + np.exp(-(across - edge) / 0.04))
    grey = light * (1 - rng.uniform(0.6, 0.85) * ink) + rng.normal(0, rng.uniform(4, 9), ink.shape)
    tint = np.array([1.0, rng.uniform(0.93, 1.0), rng.uniform(0.82, 0.95)])
    rgb = np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buffer, format="JPEG", quality=int(rng.integers(70, 90)))
    return buffer.getvalue()


def jpeg(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Dark ink on white at JPEG quality 5 to 15: blocks and ringing around every stroke."""
    return encode(upscale(digit), dark=True, fmt="JPEG", quality=int(rng.integers(5, 16)))


def inverted(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Dark ink on white paper, the opposite of MNIST's light ink on black."""
    return encode(upscale(digit), dark=True)


def haze(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Faint grey around the ink: a halo of 15-30% and a few smudges of 10-30%, on white."""
    ink = upscale(digit)
    halo = ndimage.gaussian_filter(ink, rng.uniform(12, 25))
    hazy = ink + halo * (rng.uniform(0.15, 0.3) * 255.0 / max(halo.max(), 1.0))
    rows, cols = np.mgrid[:CANVAS, :CANVAS]
    for _ in range(int(rng.integers(2, 6))):
        row, col = rng.uniform(0, CANVAS, 2)
        sigma = rng.uniform(10, 35)
        blob = np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * sigma**2))
        hazy += rng.uniform(0.1, 0.3) * 255.0 * blob
    return encode(np.clip(hazy, 0, 255), dark=True)


def canvas(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Clean strokes on the paint page's canvas at 60-260 px, anywhere, often transparent."""
    size = int(rng.integers(60, 261))
    top, left = (int(v) for v in rng.integers(0, CANVAS - size + 1, 2))
    ink = np.zeros((CANVAS, CANVAS))
    ink[top : top + size, left : left + size] = upscale(digit, size)
    style = int(rng.integers(3))
    if style < 2:  # opaque: light on black or dark on white
        return encode(ink, dark=style == 1)
    rgba = np.zeros((CANVAS, CANVAS, 4), dtype=np.uint8)  # the page's transparent paper
    rgba[..., :3] = (30, 30, 30)
    rgba[..., 3] = np.rint(ink).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


KINDS: dict[str, Capture] = {
    "canvas": canvas,
    "inverted": inverted,
    "lowres": lowres,
    "blur": blur,
    "thick": thick,
    "thin": thin,
    "paper": paper,
    "jpeg": jpeg,
    "haze": haze,
}


def capture(kind: str, digit: np.ndarray, seed: int = 0) -> bytes:
    """The ``kind`` capture of ``digit``, the same bytes for the same seed."""
    return KINDS[kind](digit, np.random.default_rng([seed, zlib.crc32(kind.encode())]))
