"""Canvas snapshots drawn with Pillow, normalised to MNIST-style 28x28 digits."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from mlpaint import strokes
from mlpaint.images import (
    MAX_PIXELS,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    InvalidImageError,
    decode_data_url,
    image_to_pixels,
)


def _seven(offset: tuple[int, int], scale: float) -> list[tuple[float, float]]:
    """The polyline of a '7' (top bar, then the diagonal) at ``offset``, ``scale`` px per unit."""
    ox, oy = offset
    points = [(0, 0), (60, 0), (25, 100)]
    return [(ox + x * scale, oy + y * scale) for x, y in points]


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _draw(
    size: tuple[int, int] = (280, 280),
    offset: tuple[int, int] = (90, 60),
    scale: float = 1.5,
    width: int = 18,
    mode: str = "L",
    paper: int | tuple = 255,
    ink: int | tuple = 0,
) -> Image.Image:
    """A canvas with a '7' drawn as a thick polyline."""
    image = Image.new(mode, size, paper)
    ImageDraw.Draw(image).line(_seven(offset, scale), fill=ink, width=width)
    return image


def _centre_and_box(pixels: np.ndarray) -> tuple[float, float, int, int]:
    """(row centre of mass, column centre of mass, box height, box width) of the ink."""
    image = pixels.reshape(28, 28).astype(np.float64)
    rows, cols = np.mgrid[:28, :28]
    total = image.sum()
    inked_rows = np.flatnonzero(image.max(axis=1) > 0)
    inked_cols = np.flatnonzero(image.max(axis=0) > 0)
    height = inked_rows[-1] - inked_rows[0] + 1
    width = inked_cols[-1] - inked_cols[0] + 1
    return (image * rows).sum() / total, (image * cols).sum() / total, height, width


def _check_mnist_like(pixels: np.ndarray) -> None:
    assert pixels.shape == (784,) and pixels.dtype == np.uint8
    assert pixels.max() == 255
    row, col, height, width = _centre_and_box(pixels)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5
    # Anti-aliasing may touch one more pixel at each edge of the 20-px box.
    assert max(height, width) <= 21 and max(height, width) >= 19


@pytest.mark.parametrize(
    ("size", "offset", "scale", "width"),
    [
        ((280, 280), (90, 60), 1.5, 18),  # the paint page's canvas
        ((28, 28), (8, 4), 0.18, 2),  # already MNIST-sized
        ((1000, 600), (20, 30), 5.0, 40),  # large, off-centre, not square
        ((300, 300), (200, 150), 1.0, 6),  # small thin digit in a corner
    ],
)
def test_dark_on_light_digits_of_any_size(
    size: tuple, offset: tuple, scale: float, width: int
) -> None:
    _check_mnist_like(image_to_pixels(_png(_draw(size, offset, scale, width))))


def test_both_polarities_give_the_same_digit() -> None:
    dark_on_light = image_to_pixels(_png(_draw(paper=255, ink=0)))
    light_on_dark = image_to_pixels(_png(_draw(paper=0, ink=255)))
    np.testing.assert_array_equal(dark_on_light, light_on_dark)


def test_rgba_with_transparent_paper_and_colour_ink() -> None:
    reference = image_to_pixels(_png(_draw()))
    for ink in [(0, 0, 0, 255), (255, 255, 255, 255), (20, 60, 200, 255)]:
        rgba = _draw(mode="RGBA", paper=(0, 0, 0, 0), ink=ink)
        pixels = image_to_pixels(_png(rgba))
        _check_mnist_like(pixels)
        assert np.abs(pixels.astype(int) - reference.astype(int)).max() <= 2


def test_jpeg_noise_does_not_stretch_the_box() -> None:
    _check_mnist_like(image_to_pixels(_png(_draw().convert("RGB"), fmt="JPEG")))


def test_aspect_ratio_is_kept_for_a_one() -> None:
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).line([(100, 20), (100, 180)], fill=0, width=12)
    row, col, height, width = _centre_and_box(image_to_pixels(_png(image)))
    assert 19 <= height <= 21 and width <= 4
    assert abs(col - 14) <= 0.5 and abs(row - 14) <= 0.5


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_empty_canvases_are_rejected(mode: str) -> None:
    paper = {"L": 255, "RGB": (255, 255, 255), "RGBA": (0, 0, 0, 0)}[mode]
    with pytest.raises(EmptyImageError, match="no ink"):
        image_to_pixels(_png(Image.new(mode, (280, 280), paper)))


def test_data_urls_and_bare_base64() -> None:
    data = _png(_draw())
    text = base64.b64encode(data).decode()
    assert decode_data_url(f"data:image/png;base64,{text}") == data
    assert decode_data_url(text) == data
    assert decode_data_url(f"  data:image/png;base64,{text[:50]}\n{text[50:]}  ") == data


@pytest.mark.parametrize(
    "text",
    ["data:image/png;base64,@@@notbase64", "data:image/png,abc", "data:nonsense", "", 42],
)
def test_bad_data_urls(text: object) -> None:
    with pytest.raises(InvalidImageError):
        decode_data_url(text)  # type: ignore[arg-type]


def test_not_an_image_and_damaged_images() -> None:
    with pytest.raises(InvalidImageError, match="not an image"):
        image_to_pixels(b"hello, world")
    with pytest.raises(InvalidImageError):
        image_to_pixels(_png(_draw())[:200])


def test_too_large_images_are_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError, match="2 MB"):
        decode_data_url("A" * (3 * 1024 * 1024))
    with pytest.raises(ImageTooLargeError, match="2 MB"):
        image_to_pixels(b"\x89PNG" + b"\0" * (2 * 1024 * 1024 + 1))
    # A small file that claims a huge canvas: refused from the header alone.
    bomb = _png(Image.new("1", (5000, 300), 1))
    assert len(bomb) < 10_000
    with pytest.raises(ImageTooLargeError, match="4096"):
        image_to_pixels(bomb)


def test_errors_are_value_errors() -> None:
    for error in (EmptyImageError, InvalidImageError, ImageTooLargeError):
        assert issubclass(error, ImageError) and issubclass(error, ValueError)


def test_a_mode_pillow_cannot_convert_is_invalid_not_a_crash() -> None:
    with pytest.raises(InvalidImageError, match="mode LAB"):
        image_to_pixels(_png(Image.new("LAB", (40, 40)), fmt="TIFF"))


def big_seven(
    size: tuple[int, int], mode: str, paper: int | tuple, ink: int | tuple
) -> Image.Image:
    """The paint page's '7' (see ``_draw``'s defaults) scaled up to a ``size`` canvas."""
    k = size[0] / 280
    return _draw(size, (round(90 * k), round(60 * k)), 1.5 * k, round(18 * k), mode, paper, ink)


def huge_rgba_png() -> bytes:
    """A 4096x4096 RGBA canvas with a '7' on transparent paper: under 100 KB as PNG."""
    return _png(big_seven((4096, 4096), "RGBA", (0, 0, 0, 0), (0, 0, 0, 255)))


_MEASURE = r"""
import json, re, sys
from pathlib import Path
from mlpaint.images import ImageError, image_to_pixels


def kilobytes(key):
    return int(re.search(key + r":\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


data = Path(sys.argv[1]).read_bytes()
Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark (VmHWM) to now
before = kilobytes("VmRSS")
try:
    result = {"pixels": image_to_pixels(data).tolist()}
except ImageError as exc:
    result = {"error": type(exc).__name__, "message": str(exc)}
result["peak_mb"] = (kilobytes("VmHWM") - before) / 1024
print(json.dumps(result))
"""


def measured(data: bytes, folder: Path) -> dict:
    """``image_to_pixels`` in a fresh process: its answer and its peak extra memory (MB).

    Pillow's buffers are invisible to tracemalloc, so the process's peak RSS (VmHWM) is what
    counts; ru_maxrss would not do, as a child inherits its parent's.
    """
    path = folder / "upload.bin"
    path.write_bytes(data)
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout)


def test_a_4096_square_rgba_png_is_refused_from_its_header(tmp_path: Path) -> None:
    data = huge_rgba_png()
    assert len(data) < 100_000  # small enough for every byte cap: only decoding could cost
    result = measured(data, tmp_path)
    # Refused (413 through the API): 16.8 million pixels is over the 4 MP decoding budget.
    assert result.get("error") == "ImageTooLargeError", result.get("message")
    assert f"{MAX_PIXELS:,}" in result["message"] and "4096x4096" in result["message"]
    assert result["peak_mb"] < 100


def test_pixel_budget_refuses_a_png_within_the_side_limit() -> None:
    with pytest.raises(ImageTooLargeError, match=f"4096x4000 .*at most {MAX_PIXELS:,}"):
        image_to_pixels(_png(Image.new("L", (4096, 4000), 255)))
    with pytest.raises(ImageTooLargeError, match=f"{MAX_PIXELS:,}"):
        image_to_pixels(_png(Image.new("1", (2049, 2048), 1)))


@pytest.mark.parametrize(
    ("size", "mode", "paper", "ink", "fmt"),
    [
        ((2048, 2048), "RGBA", (0, 0, 0, 0), (0, 0, 0, 255), "PNG"),  # at the budget
        ((4096, 4000), "RGB", (255, 255, 255), (0, 0, 0), "JPEG"),  # 16 MP: JPEG decodes small
    ],
)
def test_large_images_within_the_budget_cost_little_memory(
    tmp_path: Path, size: tuple, mode: str, paper: tuple, ink: tuple, fmt: str
) -> None:
    result = measured(_png(big_seven(size, mode, paper, ink), fmt=fmt), tmp_path)
    assert "pixels" in result, result.get("message")
    pixels = np.array(result["pixels"], dtype=np.uint8)
    _check_mnist_like(pixels)
    # The same digit as the paint page's canvas gives, up to anti-aliasing.
    reference = image_to_pixels(_png(_draw())).astype(int)
    assert np.abs(pixels.astype(int) - reference).mean() < 3
    assert result["peak_mb"] < 100


def test_a_jpeg_is_held_to_the_budget_after_its_reduced_scale_decoding() -> None:
    image = big_seven((4096, 4000), "RGB", (255, 255, 255), (0, 0, 0))
    with pytest.raises(ImageTooLargeError, match=f"{MAX_PIXELS:,}"):
        image_to_pixels(_png(image))  # the same pixels as PNG: nothing decodes them small
    _check_mnist_like(image_to_pixels(_png(image, fmt="JPEG")))


@pytest.mark.parametrize("pen", [2, 4, 18, 40, 60])
def test_a_fine_pen_and_a_marker_give_mnist_like_strokes(pen: int) -> None:
    """MNIST's test digits measure 1.4 / 1.9 / 2.7 px (10th / 50th / 90th percentile)."""
    pixels = image_to_pixels(_png(_draw(width=pen)))
    _check_mnist_like(pixels)
    assert 1.0 <= strokes.width(pixels.reshape(28, 28)) <= 3.5  # main: 0.85 (2 px), 4.3 (60)


def test_a_photo_with_a_paper_gradient_grain_and_a_shadow() -> None:
    ink = np.asarray(_draw(width=14), dtype=np.float64) / 255  # 0 ink, 1 paper
    rows, cols = np.mgrid[:280, :280]
    paper = 250 - 0.4 * cols - 60 * (rows > 200)  # lit from the left, a shadow at the bottom
    grain = np.random.default_rng(0).normal(0, 6, ink.shape)
    photo = Image.fromarray(np.clip(ink * paper + grain, 0, 255).astype(np.uint8))
    pixels = image_to_pixels(_png(photo, fmt="JPEG"))
    _check_mnist_like(pixels)
    reference = image_to_pixels(_png(_draw(width=14))).astype(int)
    assert np.abs(pixels.astype(int) - reference).mean() < 3  # main: 27.8


def test_faint_haze_around_the_digit_is_not_ink() -> None:
    image = _draw(width=14)
    draw = ImageDraw.Draw(image)
    for box, grey in [
        ((10, 10, 80, 70), 215),
        ((200, 180, 270, 270), 200),
        ((150, 20, 200, 60), 225),
    ]:
        draw.ellipse(box, fill=grey)  # smudges 12-22% as dark as the ink
    pixels = image_to_pixels(_png(image.filter(ImageFilter.GaussianBlur(2))))
    _check_mnist_like(pixels)
    reference = image_to_pixels(_png(_draw(width=14))).astype(int)
    assert np.abs(pixels.astype(int) - reference).mean() < 3
