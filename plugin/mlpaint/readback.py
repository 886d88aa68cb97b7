"""Many images through the REST image path at once, spread over a few processes.

The verdict reads a few thousand captured digits and non-digits back at training time
(``mlpaint.verdict``, ``mlpaint.detector``): each takes milliseconds of Pillow and SciPy work
that holds the GIL, so they are shared among processes (``mlpaint.workpool``). The answers are
exactly those of ``images.image_to_pixels`` one by one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from mlpaint import captures, images
from mlpaint.pixels import N_PIXELS
from mlpaint.workpool import map_in_processes

_CHUNKS_PER_WORKER = 4  # smaller jobs even out the workers' shares


def _chunks(n: int, workers: int) -> list[slice]:
    """Up to ``workers * _CHUNKS_PER_WORKER`` consecutive slices covering ``range(n)``."""
    edges = np.linspace(0, n, max(1, min(n, workers * _CHUNKS_PER_WORKER)) + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _capture_and_read(job: tuple[list[str], np.ndarray, np.ndarray]) -> np.ndarray:
    kinds, digits, seeds = job
    pairs = zip(kinds, digits, seeds, strict=True)
    return np.stack([images.image_to_pixels(captures.capture(k, d, int(s))) for k, d, s in pairs])


def captured(
    kinds: Sequence[str], digits: np.ndarray, seeds: np.ndarray, workers: int = 1
) -> np.ndarray:
    """(n, 784): each digit captured as its kind (``captures.capture``, seeded) and read back."""
    if len(digits) == 0:
        return np.zeros((0, N_PIXELS), np.uint8)
    jobs = [(list(kinds[s]), digits[s], seeds[s]) for s in _chunks(len(digits), workers)]
    return np.concatenate(map_in_processes(_capture_and_read, jobs, workers))


def _read(encoded: list[bytes]) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for data in encoded:
        try:
            out.append(images.image_to_pixels(data))
        except images.ImageError:  # refused (no ink): the scorer answers 422
            out.append(None)
    return out


def read(encoded: Sequence[bytes], workers: int = 1) -> list[np.ndarray | None]:
    """Each encoded image as ``images.image_to_pixels`` reads it, None where it is refused."""
    jobs = [list(encoded[s]) for s in _chunks(len(encoded), workers)]
    return [row for part in map_in_processes(_read, jobs, workers) for row in part]


def accepted(encoded: Sequence[bytes], workers: int = 1) -> np.ndarray:
    """(m, 784): the images the image path accepts, in order; those it refuses are left out."""
    return np.stack([row for row in read(encoded, workers) if row is not None])
