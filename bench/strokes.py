"""The stroke-width step: ``strokes.disk_filter`` against scipy's disk-footprint filter.

    python bench/strokes.py [--digits N]

Records the grey dilations and erosions that the image path's stroke-width step takes on N
low-resolution copies (``distortions.lowres``, the costliest part of augmenting) and on N
thick and N thin captures (uploads), then times the same steps both ways, side by side, and
checks that they give the same pixels.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from mlpaint import captures, distortions, images, strokes
from mlpaint.sources import read_vendored

Step = tuple[np.ndarray, float, bool]


def seconds(fn: Callable[[], object], runs: int) -> float:
    """Median wall seconds of ``fn()`` over ``runs`` calls."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def recorded_steps(make: Callable[[], object]) -> list[Step]:
    """The (image, radius, grow) of every stroke-width step ``make()`` takes."""
    steps: list[Step] = []
    ours = strokes.disk_filter

    def recording(image: np.ndarray, radius: float, *, grow: bool) -> np.ndarray:
        steps.append((image.copy(), radius, grow))
        return ours(image, radius, grow=grow)

    strokes.disk_filter = recording
    try:
        make()
    finally:
        strokes.disk_filter = ours
    return steps


def scipy_filter(image: np.ndarray, radius: float, *, grow: bool) -> np.ndarray:
    """The reference: scipy's grey morphology with the disk as footprint."""
    reference = ndimage.grey_dilation if grow else ndimage.grey_erosion
    return reference(image, footprint=strokes._disk(radius))


def report(name: str, steps: list[Step]) -> None:
    """Time ``steps`` both ways, check they agree, print the figures."""
    for image, radius, grow in steps:
        ours = strokes.disk_filter(image, radius, grow=grow)
        assert np.array_equal(ours, scipy_filter(image, radius, grow=grow))
    mine = seconds(lambda: [strokes.disk_filter(i, r, grow=g) for i, r, g in steps], 5)
    theirs = seconds(lambda: [scipy_filter(i, r, grow=g) for i, r, g in steps], 5)
    low, mid, high = np.percentile([step[1] for step in steps], [10, 50, 90])
    radii = f"{low:.1f} / {mid:.1f} / {high:.1f}"
    print(f"\n{name}: {len(steps)} steps, radius at 8x {radii} (10/50/90%)")
    print(f"  scipy grey morphology, disk footprint   {theirs / len(steps) * 1e3:6.3f} ms a step")
    print(
        f"  strokes.disk_filter (rectangles)        {mine / len(steps) * 1e3:6.3f} ms a step"
        f"   ({theirs / mine:.2f}x)"
    )


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=300)
    args = parser.parse_args()
    train, test = read_vendored()
    digits = train.pixels[: args.digits].reshape(-1, 28, 28).astype(np.float64)
    sides = np.random.default_rng(0).integers(7, 15, len(digits))
    print("median of 5 runs; both ways give the same pixels (checked)")
    report("low-resolution copies", recorded_steps(lambda: distortions.lowres(digits, sides)))
    uploads = [
        captures.capture(kind, test.pixels[i], i)
        for kind in ("thick", "thin")
        for i in range(args.digits)
    ]
    report(
        "thick and thin uploads",
        recorded_steps(lambda: [images.image_to_pixels(data) for data in uploads]),
    )


if __name__ == "__main__":
    main()
