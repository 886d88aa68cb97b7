"""A non-digit set made by code with a fixed seed: letters, shapes, smileys, scribbles, noise.

``make()`` returns ``SIZE`` (600) ``(group, PNG bytes)`` pairs, canvas-like images (280 px,
light strokes on black, dark on white, or strokes on transparent paper) that the scorer's image
input takes, the same bytes every time. The groups and their shares are in ``GROUPS``.

Letters that are digits or are often written like one are left out, so that every image here
is truly not a digit: B (8), D O Q o (0), G b (6), I J i j l t (1 or 7), S s (5), Z z (2),
T (7), a g q (9), y (4), and d, e (6, 2 in many hands). A plain ring is a 0, so the "circle"
shapes are discs, rings around a dot and concentric rings instead.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

CANVAS = 280
SIZE = 600
SEED = 20261125
FONT_LETTERS = "ACEFHKLMNPRUVWXYcfhkmnruvwx"
Points = list[tuple[float, float]]
# Letters as strokes in a unit box (x right, y down), one polyline each.
STROKE_LETTERS: dict[str, list[Points]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.55), (0.75, 0.55)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.7, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.7, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.55), (1, 1)]],
    "L": [[(0, 0), (0, 1), (0.8, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.4), (0.75, 1), (1, 0)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
}


def _canvas(rng: np.random.Generator) -> tuple[Image.Image, ImageDraw.ImageDraw, int]:
    """A blank canvas (white or black paper) and the ink that contrasts with it."""
    dark_ink = bool(rng.random() < 0.5)
    image = Image.new("L", (CANVAS, CANVAS), 255 if dark_ink else 0)
    return image, ImageDraw.Draw(image), 0 if dark_ink else 255


def _place(points: Points, rng: np.random.Generator, jitter: float = 0.0) -> Points:
    """Unit-box points scaled (80-240 px), rotated (up to 25 degrees), moved, jittered."""
    size = rng.uniform(80, 240)
    angle = math.radians(rng.uniform(-25, 25))
    cx, cy = rng.uniform(size / 2 + 10, CANVAS - size / 2 - 10, 2)
    cos, sin = math.cos(angle), math.sin(angle)
    placed = []
    for x, y in points:
        x, y = x - 0.5 + rng.normal(0, jitter), y - 0.5 + rng.normal(0, jitter)
        placed.append((cx + size * (x * cos - y * sin), cy + size * (x * sin + y * cos)))
    return placed


def _polylines(lines: list[Points], rng: np.random.Generator, jitter: float = 0.03) -> Image.Image:
    """Polylines in one unit box, placed together, drawn with one pen."""
    image, draw, ink = _canvas(rng)
    width = int(rng.integers(6, 26))
    flat = [p for line in lines for p in line]
    placed = iter(_place(flat, rng, jitter))
    for line in lines:
        draw.line([next(placed) for _ in line], fill=ink, width=width, joint="curve")
    return image


def font_letter(rng: np.random.Generator) -> Image.Image:
    """A letter in Pillow's built-in font, 100-250 px, maybe bold, tilted, anywhere."""
    letter = FONT_LETTERS[int(rng.integers(len(FONT_LETTERS)))]
    size = int(rng.integers(100, 251))
    font = ImageFont.load_default(size=size)
    layer = Image.new("L", (CANVAS * 2, CANVAS * 2), 0)
    ImageDraw.Draw(layer).text(
        (CANVAS, CANVAS),
        letter,
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=int(rng.integers(4)),
    )
    layer = layer.rotate(rng.uniform(-20, 20), resample=Image.Resampling.BILINEAR)
    room = max(0, (CANVAS - size) // 2)  # the glyph is at most about ``size`` px high
    dx, dy = (int(v) for v in rng.integers(-room, room + 1, 2))
    ink = layer.crop(
        (CANVAS // 2 + dx, CANVAS // 2 + dy, CANVAS * 3 // 2 + dx, CANVAS * 3 // 2 + dy)
    )
    image, _, colour = _canvas(rng)
    return Image.composite(Image.new("L", image.size, colour), image, ink)


def stroke_letter(rng: np.random.Generator) -> Image.Image:
    letters = sorted(STROKE_LETTERS)
    return _polylines(STROKE_LETTERS[letters[int(rng.integers(len(letters)))]], rng)


def _ring(n: int, radius: float = 0.5, start: float = -90) -> Points:
    angles = np.radians(start + np.arange(n + 1) * 360 / n)
    return [(0.5 + radius * math.cos(a), 0.5 + radius * math.sin(a)) for a in angles]


def shape(rng: np.random.Generator) -> Image.Image:
    """An X, a square, a triangle, a star, or a disc / ring with a dot / concentric rings."""
    kind = int(rng.integers(5))
    if kind == 0:
        return _polylines([[(0, 0), (1, 1)], [(1, 0), (0, 1)]], rng)
    if kind == 1:
        return _polylines([[(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]], rng, jitter=0.01)
    if kind == 2:
        return _polylines([_ring(3)], rng, jitter=0.01)
    if kind == 3:
        star = [_ring(5, 0.5 if i % 2 == 0 else 0.2, -90 + 36 * i)[0] for i in range(11)]
        return _polylines([star], rng, jitter=0.01)
    rings = {0: [_ring(40, 0.5)], 1: [_ring(40, 0.5), _ring(12, 0.04)]}
    lines = rings.get(int(rng.integers(3)), [_ring(40, 0.5), _ring(40, 0.3), _ring(30, 0.1)])
    image = _polylines(lines, rng, jitter=0.0)
    if len(lines) == 1:  # a disc: fill it
        filled = np.asarray(image) != np.asarray(image)[0, 0]
        mask = ndimage.binary_fill_holes(filled)
        ink = 255 - int(np.asarray(image)[0, 0])
        image = Image.fromarray(np.where(mask, ink, 255 - ink).astype(np.uint8), mode="L")
    return image


def smiley(rng: np.random.Generator) -> Image.Image:
    """A face: a ring, two eyes and a smile (or a frown)."""
    sign = 1 if rng.random() < 0.75 else -1
    mouth = [
        (0.5 + 0.28 * math.cos(a), 0.6 + sign * 0.15 * math.sin(a))
        for a in np.linspace(0, math.pi, 9)
    ]
    eyes = [[(0.33, 0.33), (0.35, 0.38)], [(0.65, 0.33), (0.67, 0.38)]]
    return _polylines([_ring(36), *eyes, mouth], rng, jitter=0.005)


def scribble(rng: np.random.Generator) -> Image.Image:
    """A random curve through 6-16 points."""
    return _polylines([[tuple(p) for p in rng.random((int(rng.integers(6, 17)), 2))]], rng, 0.0)


def zigzag(rng: np.random.Generator) -> Image.Image:
    peaks = int(rng.integers(3, 9))
    xs = np.linspace(0, 1, 2 * peaks + 1)
    return _polylines([[(x, 0.3 + 0.4 * (i % 2)) for i, x in enumerate(xs)]], rng, 0.01)


def dots(rng: np.random.Generator) -> Image.Image:
    """Random dots, or grainy noise over part of the canvas."""
    image, draw, ink = _canvas(rng)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(5, 60))):
            x, y = rng.uniform(10, CANVAS - 10, 2)
            r = rng.uniform(2, 14)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
        return image
    top, left = rng.integers(0, CANVAS // 2, 2)
    height, width = rng.integers(60, CANVAS // 2, 2)
    noise = np.asarray(image).copy()
    patch = rng.random((height, width)) < rng.uniform(0.05, 0.4)
    noise[top : top + height, left : left + width][patch] = ink
    return Image.fromarray(noise, mode="L")


# Each group, its share of the set, and how one image of it is made.
GROUPS: dict[str, tuple[float, Callable[[np.random.Generator], Image.Image]]] = {
    "font": (0.25, font_letter),
    "strokes": (0.15, stroke_letter),
    "shape": (0.25, shape),
    "smiley": (0.10, smiley),
    "scribble": (0.10, scribble),
    "dots": (0.10, dots),
    "zigzag": (0.05, zigzag),
}


def _png(image: Image.Image, rng: np.random.Generator) -> bytes:
    """PNG bytes; one in four on transparent paper, as the paint page sends."""
    if rng.random() < 0.25:
        grey = np.asarray(image)
        ink = np.abs(grey.astype(np.int16) - int(np.median(grey))).astype(np.uint8)
        rgba = np.zeros((*grey.shape, 4), dtype=np.uint8)
        rgba[..., :3], rgba[..., 3] = 30, ink
        image = Image.fromarray(rgba, mode="RGBA")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def make(n: int = SIZE, seed: int = SEED) -> list[tuple[str, bytes]]:
    """``n`` (group, PNG) pairs, in group order, the same for the same ``n`` and ``seed``."""
    counts = {name: round(share * n) for name, (share, _) in GROUPS.items()}
    counts["font"] += n - sum(counts.values())
    items = []
    for g, (name, (_, draw)) in enumerate(GROUPS.items()):
        for i in range(counts[name]):
            rng = np.random.default_rng([seed, g, i])
            items.append((name, _png(draw(rng), rng)))
    return items
