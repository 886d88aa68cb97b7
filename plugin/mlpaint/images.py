"""Canvas snapshots to MNIST-style 28x28 digits: decode, find the ink, crop, scale, centre."""

from __future__ import annotations

import base64
import binascii
import io
import math
import re

import numpy as np
from PIL import Image, UnidentifiedImageError

from mlpaint import strokes
from mlpaint.ink import find_ink
from mlpaint.pixels import CENTRE, INK, N_PIXELS, SIDE

MAX_ENCODED_BYTES = 2 * 1024 * 1024  # the encoded image file (PNG, JPEG, ...)
MAX_SIDE = 4096
# Decoded pixels, checked from the header before decoding: 4 MP holds every phone screenshot and
# a 2560x1440 screen, and costs at most 16 MB as RGBA. JPEG is checked after `draft` (below),
# which decodes it at 1/2, 1/4 or 1/8 scale for free, so photos up to 4096 a side pass.
MAX_PIXELS = 2048 * 2048
# The ink is found on an image whose longer side is at most this: the glyph is 20 px, so a
# digit spanning over 2% of the image's longer side loses nothing, and the float64 steps
# below touch at most 1 MP (8 MB an array) whatever was uploaded.
WORK_SIDE = 1024
GLYPH = 20  # MNIST scales the ink's bounding box so its longer side is 20 px
GREY_RAMP = (0.1, 0.6)  # shares of the peak mapped to paper (0) and to full ink (255)
_MIN_INK = 24.0  # typical ink level, on 0..255, below which we call the canvas empty
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+/-]*)(?P<params>(;[\w.+-]+(=[\w.+-]+)?)*),", re.I)


class ImageError(ValueError):
    """The upload cannot be turned into a digit."""


class InvalidImageError(ImageError):
    """Not valid base64, not a data URL we understand, or not an image Pillow can read."""


class EmptyImageError(ImageError):
    """The image has no ink: nothing to classify."""


class ImageTooLargeError(ImageError):
    """Over 2 MB encoded, over 4096 px on a side or over 4 megapixels to decode."""


def decode_data_url(text: str) -> bytes:
    """Return the bytes of a ``data:image/...;base64,...`` URL or of bare base64 text."""
    if not isinstance(text, str):
        raise InvalidImageError("expected a data URL or base64 text")
    payload = text.strip()
    match = _DATA_URL.match(payload)
    if match:
        if ";base64" not in match.group("params").lower():
            raise InvalidImageError("only base64 data URLs are supported")
        payload = payload[match.end() :]
    elif payload.lower().startswith("data:"):
        raise InvalidImageError("malformed data URL")
    payload = re.sub(r"\s+", "", payload)
    # Refuse before decoding: base64 is 4 characters per 3 bytes.
    if len(payload) > (MAX_ENCODED_BYTES + 2) // 3 * 4:
        raise ImageTooLargeError(f"image is over {MAX_ENCODED_BYTES // (1024 * 1024)} MB encoded")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImageError(f"invalid base64: {exc}") from exc
    if not data:
        raise InvalidImageError("the image data is empty")
    return data


def _open(data: bytes) -> Image.Image:
    """Open and decode the first frame within the pixel budget, refusing before decoding."""
    if len(data) > MAX_ENCODED_BYTES:
        raise ImageTooLargeError(f"image is over {MAX_ENCODED_BYTES // (1024 * 1024)} MB encoded")
    try:
        image = Image.open(io.BytesIO(data))  # lazy: reads the header only
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidImageError("not an image Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(str(exc)) from exc
    width, height = image.size
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageTooLargeError(f"image is {width}x{height}; at most {MAX_SIDE} px a side")
    if width == 0 or height == 0:
        raise InvalidImageError("the image has no pixels")
    _draft(image)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height:,} pixels; at most {MAX_PIXELS:,} "
            "(2048x2048) unless it is a JPEG"
        )
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(str(exc)) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(f"the image data is damaged: {exc}") from exc
    return image


def _draft(image: Image.Image) -> None:
    """Have a JPEG decode as grey at the smallest scale still at least the working size."""
    width, height = image.size
    shrink = max(1.0, max(width, height) / WORK_SIDE)
    # Only JPEG implements draft; other formats ignore it and keep their size and mode.
    image.draft("L", (max(1, math.ceil(width / shrink)), max(1, math.ceil(height / shrink))))


def _small(image: Image.Image) -> Image.Image:
    """Grey ("L"), or grey premultiplied by alpha ("La"), box-reduced to the working size."""
    try:
        if "transparency" in image.info:  # palette or RGB transparency: RGBA honours it
            image = image.convert("RGBA")
        if image.mode in ("RGBA", "LA", "PA"):
            # Premultiplied, so that reducing averages ink and not transparent paper's colour.
            image = image.convert("LA").convert("La")
        else:
            image = image.convert("L")
    except ValueError as exc:  # a mode Pillow reads but cannot convert, such as LAB
        raise InvalidImageError(f"cannot use an image in mode {image.mode}: {exc}") from exc
    factor = math.ceil(max(image.size) / WORK_SIDE)
    return image.reduce(factor) if factor > 1 else image


def _grayscale(image: Image.Image) -> np.ndarray:
    """Float luminance 0..255; transparent pixels become paper opposite to the strokes."""
    if image.mode == "L":
        return np.asarray(image, dtype=np.float64)
    planes = np.asarray(image, dtype=np.float64)
    lum, alpha = planes[..., 0], planes[..., 1] / 255.0  # lum is already multiplied by alpha
    # Paper is whatever contrasts with the opaque strokes: dark strokes go on white.
    weight = alpha.sum()
    stroke = lum.sum() / weight if weight > 0 else 0.0
    paper = 255.0 if stroke < 128 else 0.0
    return lum + paper * (1.0 - alpha)


def _crop_and_scale(ink: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
    """Crop to the ink's bounding box and scale (anti-aliased) so the longer side is 20 px."""
    box_ink = ink[box]
    height, width = box_ink.shape
    scale = GLYPH / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    glyph = Image.fromarray(box_ink.astype(np.float32), mode="F")
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    return np.clip(np.asarray(glyph.resize(size, resample), dtype=np.float64), 0.0, None)


def _place(glyph: np.ndarray) -> np.ndarray:
    """Paste the glyph into 28x28 with its centre of mass on MNIST's centre."""
    rows, cols = np.mgrid[: glyph.shape[0], : glyph.shape[1]]
    total = glyph.sum()
    top = round(CENTRE - (glyph * rows).sum() / total)
    left = round(CENTRE - (glyph * cols).sum() / total)
    canvas = np.zeros((SIDE, SIDE))
    # Clip where the centring pushes the glyph past the edge, as MNIST itself does.
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + glyph.shape[0], SIDE), min(left + glyph.shape[1], SIDE)
    canvas[r0:r1, c0:c1] = glyph[r0 - top : r1 - top, c0 - left : c1 - left]
    return canvas


def image_to_pixels(data: bytes) -> np.ndarray:
    """Normalise an encoded image of a digit the way MNIST was: (784,) uint8, 0 paper."""
    return gray_to_pixels(_grayscale(_small(_open(data))))


def gray_to_pixels(gray: np.ndarray) -> np.ndarray:
    """Normalise a grey image (float 0..255, dark or light ink) of a digit: (784,) uint8."""
    ink, box, level = find_ink(np.asarray(gray, dtype=np.float64))
    if box is None or level < _MIN_INK:
        raise EmptyImageError("the image has no ink: draw a digit first")
    glyph = strokes.normalise(_crop_and_scale(ink, box))
    peak = glyph.max()
    if peak <= 0:
        raise EmptyImageError("the image has no ink: draw a digit first")
    # MNIST's strokes are saturated in the core: levels are scaled so that under 10% of the
    # peak is paper and over 60% full ink (measured: lowres 76% -> 90%, thick 96.8% -> 97.8%).
    glyph = np.clip((glyph / peak - GREY_RAMP[0]) / (GREY_RAMP[1] - GREY_RAMP[0]), 0.0, 1.0)
    canvas = _place(glyph)  # the centre of mass of the levels the model sees
    pixels = np.rint(canvas * (INK / canvas.max()))
    return pixels.astype(np.uint8).reshape(N_PIXELS)
