"""Shared fixtures: real DuckDB files built with the real importer from slices of MNIST."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest

from mlpaint.importer import import_digits
from mlpaint.resources import resource_dir

MNIST = resource_dir("data/mnist")


def read_idx(name: str) -> np.ndarray:
    """Read a vendored IDX file into an array (images (n, 28, 28), labels (n,))."""
    data = gzip.decompress((MNIST / name).read_bytes())
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_idx(path: Path, array: np.ndarray, magic: int) -> Path:
    """Write ``array`` as a gzip IDX file with the given magic number."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), compresslevel=1))
    return path


def write_idx_pair(folder: Path, images: np.ndarray, labels: np.ndarray, stem: str) -> Path:
    """Write an IDX images/labels pair named like MNIST's; return the images path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels, 0x801)
    return write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images, 0x803)


@pytest.fixture(scope="session")
def mnist_train() -> tuple[np.ndarray, np.ndarray]:
    """The 60,000 MNIST training images and labels, straight from the IDX files."""
    return read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def slice_sources(
    tmp_path_factory: pytest.TempPathFactory, mnist_train: tuple[np.ndarray, np.ndarray]
) -> Path:
    """An IDX pair holding the first 3,000 MNIST training digits."""
    images, labels = mnist_train
    folder = tmp_path_factory.mktemp("slice")
    return write_idx_pair(folder, images[:3000], labels[:3000], "train")


@pytest.fixture(scope="session")
def small_db_template(tmp_path_factory: pytest.TempPathFactory, slice_sources: Path) -> Path:
    """A database with 3,000 digits, built once with the real importer."""
    path = tmp_path_factory.mktemp("db") / "small.duckdb"
    import_digits(path, [str(slice_sources)], progress=False)
    return path


@pytest.fixture
def small_db(tmp_path: Path, small_db_template: Path) -> Path:
    """A fresh copy of the 3,000-digit database, for a test to change as it likes."""
    path = tmp_path / "small.duckdb"
    path.write_bytes(small_db_template.read_bytes())
    return path


@pytest.fixture(scope="session")
def full_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with all 70,000 digits from the vendored files."""
    path = tmp_path_factory.mktemp("full") / "mnist.duckdb"
    import_digits(path, progress=False)
    return path


@pytest.fixture
def connect_ro() -> Iterator:
    """Open databases read-only for checks, closing every connection afterwards."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def _open(path: Path) -> duckdb.DuckDBPyConnection:
        opened.append(duckdb.connect(str(path), read_only=True))
        return opened[-1]

    yield _open
    for con in opened:
        con.close()
