"""Deskewing and augmentation of 28x28 digits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from mnist_slice import load_slice
from PIL import Image, ImageDraw

from mlpaint import captures, distortions, images
from mlpaint.preprocess import AugmentSpec, augment, deskew


def _stroke(top: tuple[int, int], bottom: tuple[int, int], width: int = 2) -> np.ndarray:
    """A (784,) uint8 image with one straight line from ``top`` to ``bottom`` ((x, y) points)."""
    image = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(image).line([top, bottom], fill=255, width=width)
    return np.asarray(image, dtype=np.uint8).reshape(784)


def _moments(pixels: np.ndarray) -> tuple[float, float, float]:
    """(row centre, column centre, shear = cov(row, col) / var(row)) of one image's ink."""
    image = pixels.reshape(28, 28).astype(np.float64)
    rows, cols = np.mgrid[:28, :28]
    total = image.sum()
    mr, mc = (image * rows).sum() / total, (image * cols).sum() / total
    var = (image * (rows - mr) ** 2).sum() / total
    return mr, mc, (image * (rows - mr) * (cols - mc)).sum() / total / var


def test_a_slanted_stroke_becomes_upright_and_centred() -> None:
    slanted = _stroke((9, 4), (19, 23))  # leans: x grows by 10 px over 19 rows
    assert abs(_moments(slanted)[2]) > 0.4
    upright = deskew(slanted)
    assert upright.dtype == np.uint8 and upright.shape == (784,)
    mr, mc, shear = _moments(upright)
    assert abs(shear) < 0.05
    assert abs(mr - 14) < 0.5 and abs(mc - 14) < 0.5
    # The stroke now spans few columns: its width, not its lean.
    columns = np.flatnonzero(upright.reshape(28, 28).max(axis=0) > 64)
    assert columns.max() - columns.min() <= 4
    # Ink is kept (interpolation blurs it a little, it does not vanish).
    assert 0.8 < upright.sum() / slanted.sum() < 1.2


def test_an_upright_centred_stroke_is_left_alone() -> None:
    upright = _stroke((14, 4), (14, 24), width=3)  # columns 13..15: mass exactly on 14
    out = deskew(upright)
    assert np.abs(out.astype(int) - upright.astype(int)).max() <= 1


def test_batches_keep_shape_and_match_single_rows() -> None:
    pixels, _ = load_slice(50)
    out = deskew(pixels)
    assert out.shape == (50, 784) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[7], deskew(pixels[7]))
    # MNIST digits lean: deskewing reduces the mean absolute shear.
    before = np.mean([abs(_moments(p)[2]) for p in pixels])
    after = np.mean([abs(_moments(p)[2]) for p in out])
    assert after < before / 5


def test_blank_images_pass_through_and_bad_shapes_fail() -> None:
    blank = np.zeros((3, 784), np.uint8)
    np.testing.assert_array_equal(deskew(blank), blank)
    with pytest.raises(ValueError, match="784"):
        deskew(np.zeros((28, 28), np.uint8))


def test_augment_appends_distorted_copies_with_labels() -> None:
    pixels, labels = load_slice(40)
    spec = AugmentSpec(copies=2, max_shift=2, thicken=0.3, thin=0.3, blur=0.3)
    x, y = augment(pixels, labels, spec, np.random.default_rng(1))
    assert x.shape == (120, 784) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[:40], pixels)
    np.testing.assert_array_equal(y, np.tile(labels, 3))
    assert not np.array_equal(x[40:80], pixels)
    again, _ = augment(pixels, labels, spec, np.random.default_rng(1))
    np.testing.assert_array_equal(x, again)


def test_copies_are_the_same_whatever_the_number_of_processes() -> None:
    """Each block of each copy draws from its own generator: one process or two, the same rows."""
    pixels, labels = load_slice(10_000)  # two of augment's 8,192-row blocks
    spec = AugmentSpec(copies=2, max_shift=1, rotate=8.0, scale=0.1, elastic=24.0, lowres=0.01)
    spec = replace(spec, thicken=0.1, thin=0.1, blur=0.1)
    inline, _ = augment(pixels, labels, spec, np.random.default_rng(3))
    pooled, _ = augment(pixels, labels, spec, np.random.default_rng(3), workers=2)
    np.testing.assert_array_equal(inline, pooled)
    assert not np.array_equal(inline[10_000:20_000], inline[20_000:])  # each copy its own


def test_shift_only_moves_ink() -> None:
    pixels, labels = load_slice(20)
    x, _ = augment(pixels, labels, AugmentSpec(copies=1, max_shift=1), np.random.default_rng(0))
    # MNIST keeps a 4-pixel blank border, so a 1-pixel shift loses no ink.
    np.testing.assert_array_equal(x[20:].sum(axis=1), pixels.sum(axis=1, dtype=np.int64))


def test_thicken_adds_ink_and_thin_removes_it() -> None:
    pixels, labels = load_slice(20)
    thick, _ = augment(pixels, labels, AugmentSpec(copies=1, thicken=1.0), np.random.default_rng(0))
    thin, _ = augment(pixels, labels, AugmentSpec(copies=1, thin=1.0), np.random.default_rng(0))
    ink = pixels.sum(axis=1, dtype=np.int64)
    assert np.all(thick[20:].sum(axis=1, dtype=np.int64) > ink)
    assert np.all(thin[20:].sum(axis=1, dtype=np.int64) < ink)


def test_augment_off_returns_the_input() -> None:
    pixels, labels = load_slice(5)
    x, y = augment(pixels, labels, AugmentSpec(), np.random.default_rng(0))
    assert x is pixels and y is labels
    with pytest.raises(ValueError, match=r"augment\.thin"):
        AugmentSpec(thin=-0.1)


@pytest.mark.parametrize("warped", [False, True])
def test_every_copy_stays_with_its_digit_across_chunks(warped: bool) -> None:
    """Over more rows than one vectorised block, each copy is still its own digit's, labelled so.

    The guard for the thicken / thin / blur collapse once seen on the full hash fold: a copy
    that drifted from its row (or its label) would show as a low correlation here.
    """
    pixels, labels = load_slice(20_000)  # more than two of augment's 8,192-row blocks
    spec = AugmentSpec(copies=2, max_shift=1, thicken=0.3, thin=0.2, blur=0.2)
    # A few low-resolution copies: each is read through the image path (about 3 ms), and
    # 1,200 of them cross the blocks as well as the default's 6,000 would.
    spec = replace(spec, rotate=8.0, scale=0.1, elastic=24.0, lowres=0.03) if warped else spec
    x, y = augment(pixels, labels, spec, np.random.default_rng(0))
    n = len(pixels)
    assert np.array_equal(y, np.tile(labels, 3))
    original = pixels.astype(np.float64)
    original -= original.mean(axis=1, keepdims=True)
    for copy in (1, 2):
        rows = x[copy * n : (copy + 1) * n].astype(np.float64)
        rows -= rows.mean(axis=1, keepdims=True)
        own, other = _correlation(original, rows), _correlation(np.roll(original, 1, 0), rows)
        assert np.median(own) > 0.5
        # A copy that drifted from its row would look no more like it than like a neighbour.
        assert (own > other).mean() > 0.9  # ~0.5 if misaligned; same-class neighbours look alike


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1)) + 1e-9
    return (a * b).sum(axis=1) / norms


def test_warp_without_change_is_the_identity() -> None:
    images = load_slice(8)[0].reshape(-1, 28, 28).astype(np.float64)
    ones = np.ones(len(images))
    same = distortions.warp(images, 0 * ones, ones, 0.0, np.random.default_rng(0))
    np.testing.assert_allclose(same, images, atol=1e-9)


def test_warp_turns_and_scales_about_the_centre() -> None:
    bar = np.zeros((1, 28, 28))
    bar[0, 6:23, 14] = 255.0  # a vertical stroke through the centre (14, 14)
    ones = np.ones(1)
    rng = np.random.default_rng(0)
    turned = distortions.warp(bar, 90 * ones, ones, 0.0, rng)[0]
    assert turned[14, 6:23].min() > 200 and turned[6:23, 14].sum() < 2 * 255  # now horizontal
    shrunk = distortions.warp(bar, 0 * ones, 0.5 * ones, 0.0, rng)[0]
    inked = np.flatnonzero(shrunk[:, 14] > 100)
    assert 7 <= len(inked) <= 10 and inked.min() >= 9 and inked.max() <= 19


def test_elastic_moves_ink_a_little_and_keeps_most_of_it() -> None:
    images = load_slice(50)[0].reshape(-1, 28, 28).astype(np.float64)
    ones = np.ones(len(images))
    bent = distortions.warp(images, 0 * ones, ones, 24.0, np.random.default_rng(0))
    assert not np.allclose(bent, images)
    kept = bent.sum(axis=(1, 2)) / images.sum(axis=(1, 2))
    # A bend stretches some strokes and squeezes others: measured 0.76..1.34 on these 50.
    assert np.all((kept > 0.6) & (kept < 1.5))


def test_lowres_copy_is_what_the_scorer_reads_from_a_low_resolution_upload() -> None:
    digits = load_slice(20, offset=60000)[0]
    copies = distortions.lowres(digits.reshape(-1, 28, 28).astype(np.float64), np.full(20, 8))
    # The robustness bench's 8x8 scan: a 280 px PNG through the REST image path.
    uploads = np.stack(
        [images.image_to_pixels(captures.lowres(d, np.random.default_rng(0))) for d in digits]
    )
    gap = np.abs(copies.reshape(20, -1) - uploads).mean(axis=1)
    # Measured: 5.2 grey levels a pixel on average (0.5..16: the copy is read at 112 px, not
    # 280); the blocky copy before it (area resampling, no image path) was 13..34 away.
    assert gap.mean() < 8
    untouched = distortions.lowres(digits[:2].reshape(-1, 28, 28).astype(np.float64), [28, 28])
    assert np.abs(untouched - digits[:2].reshape(-1, 28, 28)).mean() > 1  # normalised, too
