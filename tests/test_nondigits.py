"""The non-digit set: made by code, the same every time, every image usable by the scorer."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from functools import lru_cache

from PIL import Image

from mlpaint import nondigits
from mlpaint.images import image_to_pixels


@lru_cache(maxsize=1)
def the_set() -> tuple[tuple[str, bytes], ...]:
    return tuple(nondigits.make())


def test_size_and_groups() -> None:
    groups = Counter(group for group, _ in the_set())
    assert sum(groups.values()) == nondigits.SIZE == 600
    assert set(groups) == {"font", "strokes", "shape", "smiley", "scribble", "dots", "zigzag"}
    for name, (share, _) in nondigits.GROUPS.items():
        assert abs(groups[name] - share * nondigits.SIZE) <= 1


def test_the_same_every_time() -> None:
    def digest(items: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> str:
        return hashlib.sha256(b"".join(g.encode() + data for g, data in items)).hexdigest()

    assert digest(nondigits.make(70)) == digest(nondigits.make(70))
    assert digest(nondigits.make(70, seed=1)) != digest(nondigits.make(70))
    assert len({data for _, data in the_set()}) == nondigits.SIZE  # no two alike


def test_no_digit_like_letters() -> None:
    assert not set(nondigits.FONT_LETTERS) & set("BDGIJOQSTZabdegijlioqstyz0123456789")
    assert not set(nondigits.STROKE_LETTERS) & set("BDGIJOQSTZ")


def test_every_image_goes_through_the_image_path() -> None:
    for _, data in the_set():
        assert Image.open(io.BytesIO(data)).size == (nondigits.CANVAS, nondigits.CANVAS)
        pixels = image_to_pixels(data)
        assert pixels.shape == (784,) and pixels.max() == 255
