"""Many images through the image path at once: the answers of ``image_to_pixels`` one by one."""

from __future__ import annotations

import numpy as np
from mnist_slice import load_slice

from mlpaint import captures, readback
from mlpaint.images import image_to_pixels


def test_captured_digits_read_back_in_processes_as_one_by_one() -> None:
    digits, _ = load_slice(12, offset=60_000)
    kinds = [list(captures.KINDS)[i % len(captures.KINDS)] for i in range(12)]
    seeds = np.arange(100, 112)
    expected = [
        image_to_pixels(captures.capture(k, d, int(s)))
        for k, d, s in zip(kinds, digits, seeds, strict=True)
    ]
    np.testing.assert_array_equal(readback.captured(kinds, digits, seeds, workers=2), expected)
    assert readback.captured([], digits[:0], seeds[:0]).shape == (0, 784)


def test_read_keeps_the_order_and_marks_refused_images() -> None:
    digits, _ = load_slice(5, offset=60_000)
    encoded = [captures.encode(d.reshape(28, 28).astype(float)) for d in digits]
    blank = captures.encode(np.zeros((28, 28)))
    encoded.insert(2, blank)
    rows = readback.read(encoded, workers=2)
    assert rows[2] is None and len(rows) == 6
    for row, data in zip(
        [r for r in rows if r is not None], encoded[:2] + encoded[3:], strict=True
    ):
        np.testing.assert_array_equal(row, image_to_pixels(data))
    np.testing.assert_array_equal(
        readback.accepted(encoded), np.stack([r for r in rows if r is not None])
    )
