"""Small MNIST slices read from the vendored IDX files, for tests that train tiny models."""

from __future__ import annotations

import gzip
from functools import lru_cache

import numpy as np

from mlpaint.resources import resource_dir


def _read_idx(name: str) -> np.ndarray:
    """Read one gzip IDX file into an array (images flattened to 784 columns)."""
    with gzip.open(resource_dir("data/mnist") / name, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims[0], -1) if ndim > 1 else data


@lru_cache(maxsize=1)
def load_all() -> tuple[np.ndarray, np.ndarray]:
    """All 70,000 digits in id order (60k MNIST-train then 10k test): (pixels, labels)."""
    pixels = np.concatenate(
        [_read_idx("train-images-idx3-ubyte.gz"), _read_idx("t10k-images-idx3-ubyte.gz")]
    )
    labels = np.concatenate(
        [_read_idx("train-labels-idx1-ubyte.gz"), _read_idx("t10k-labels-idx1-ubyte.gz")]
    )
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def load_slice(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n`` digits starting at id ``offset``: (n,784) uint8 pixels, (n,) int64 labels."""
    pixels, labels = load_all()
    return pixels[offset : offset + n].copy(), labels[offset : offset + n].astype(np.int64)
