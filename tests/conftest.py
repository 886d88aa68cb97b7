"""Shared fixtures: real DuckDB files built with the real importer from slices of MNIST."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import duckdb
import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mlpaint.importer import import_digits
from mlpaint.resources import resource_dir

MNIST = resource_dir("data/mnist")
# Tiny models choose their digit / not-a-digit threshold on 60 captured digits a half and 120
# non-digits instead of 1,000 and 600 (about 3 s instead of 35 s a training); subprocesses inherit.
os.environ.setdefault("MLPAINT_VERDICT_SAMPLE", "60")


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


def copy_db(template: Path, folder: Path) -> Path:
    """Copy a template database file into ``folder`` under the same name."""
    path = folder / template.name
    path.write_bytes(template.read_bytes())
    return path


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
    return copy_db(small_db_template, tmp_path)


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


TINY_CONFIG = {
    "description": "a tiny model for tests",
    "input_data": "SELECT id, pixels AS features, label FROM digits",
    "algorithm": {
        "bags": 2,
        "max_iter": 6,
        "num_leaves": 15,
        "max_depth": 5,
        "seed": 7,
        "num_threads": 1,
    },
}
SMALLER_CONFIG = {
    "description": "an even smaller second model",
    "input_data": "SELECT id, pixels AS features, label FROM digits",
    "algorithm": {
        "bags": 1,
        "max_iter": 3,
        "num_leaves": 7,
        "max_depth": 3,
        "seed": 3,
        "num_threads": 1,
    },
    "preprocess": {"deskew": True},
}


def train_tiny(path: Path, name: str = "tiny", config: dict | None = None) -> None:
    """Train a tiny real model into the database at ``path``."""
    from mlpaint import training
    from mlpaint.experiment import ExperimentConfig

    con = duckdb.connect(str(path))
    try:
        training.train(con, ExperimentConfig.from_dict(config or TINY_CONFIG), name, progress=False)
    finally:
        con.close()


@pytest.fixture(scope="session")
def trained_db_template(tmp_path_factory: pytest.TempPathFactory, small_db_template: Path) -> Path:
    """The 3,000-digit database with two tiny models: ``small2`` (older) and ``tiny`` (active)."""
    path = tmp_path_factory.mktemp("trained") / "trained.duckdb"
    path.write_bytes(small_db_template.read_bytes())
    train_tiny(path, "small2", SMALLER_CONFIG)
    train_tiny(path, "tiny", TINY_CONFIG)
    return path


@pytest.fixture
def trained_db(tmp_path: Path, trained_db_template: Path) -> Path:
    """A fresh copy of the trained database."""
    return copy_db(trained_db_template, tmp_path)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `mlpaint` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "mlpaint", *args], capture_output=True, text=True, timeout=300
    )


def announcement(db: Path) -> dict | None:
    """What a running server announced beside ``db``, or None."""
    from mlpaint.announcement import announcement_path

    path = announcement_path(db)
    return json.loads(path.read_text()) if path.exists() else None


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(db: Path, *extra: str) -> Iterator[str]:
    """Run the real `mlpaint serve` (gunicorn) in a subprocess; yield its base URL."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlpaint",
                "serve",
                "--db",
                str(db),
                "--port",
                str(port),
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: stopping it stops its workers too
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, process, log)
            yield base
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # any worker the master left behind


def _wait_until_up(base: str, process: subprocess.Popen, log: IO[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read()}")
        try:
            with urllib.request.urlopen(f"{base}/v1/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start within 60 s")


@pytest.fixture(scope="session")
def server_db(tmp_path_factory: pytest.TempPathFactory, trained_db_template: Path) -> Path:
    """A copy of the trained database for the shared read-only server."""
    return copy_db(trained_db_template, tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="session")
def live_server(server_db: Path) -> Iterator[str]:
    """A real read-only server on loopback over the trained database."""
    with running_server(server_db) as base:
        yield base


# --- In process, as in Flask's tutorial: the `app` and its test `client`, no server ------------


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory, trained_db_template: Path) -> Iterator[Flask]:
    """The read-only app over its own copy of the trained database: `live_server` in process."""
    from mlpaint.app import create_app

    db = copy_db(trained_db_template, tmp_path_factory.mktemp("app"))
    app = create_app({"DATABASE": str(db), "TESTING": True})
    yield app
    app.extensions["mlpaint"].close()


@pytest.fixture(scope="session")
def client(app: Flask) -> FlaskClient:
    """Flask's test client for ``app``: each request runs in this process, through no socket."""
    return app.test_client()


@pytest.fixture
def make_client() -> Iterator:
    """Flask's in-process test client over ``create_app(config)``, closed afterwards."""
    from mlpaint.app import create_app

    apps = []

    def _make(db: Path, **config: object) -> FlaskClient:
        app = create_app({"DATABASE": str(db), "TESTING": True, **config})
        apps.append(app)
        return app.test_client()

    yield _make
    for app in apps:
        app.extensions["mlpaint"].close()


@pytest.fixture(scope="session")
def cluster() -> Iterator:
    """A real Dask cluster: one scheduler and two workers, started with the `dask` command."""
    from dask_processes import dask_processes

    with dask_processes(2) as processes:
        yield processes
