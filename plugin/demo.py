"""``mlpaint demo``: import MNIST if needed, train the default model if none, serve the page."""

from __future__ import annotations

import os

from mlpaint import db, registry, server, training
from mlpaint.experiment import load_config
from mlpaint.importer import import_digits

# Measured with bench/train.py on the 2-core reference machine (see README).
DEFAULT_TRAINING_MINUTES = 3


def run_demo(db_path: str | os.PathLike[str] | None, *, host: str, port: int, threads: int) -> int:
    """Make sure there are digits and a model, then serve (training allowed on loopback)."""
    path = db.resolve_db_path(db_path)
    print(import_digits(path).message)
    if not _has_model(path):
        print(
            "no model yet: training the default model (experiments/default.toml); "
            f"this takes about {DEFAULT_TRAINING_MINUTES} minutes on a 2-core machine",
            flush=True,
        )
        con = db.connect(path)
        try:
            report = training.train(con, load_config(None), "default", progress=True)
        finally:
            con.close()
        print(training.format_report(report))
    # On loopback the demo is the single writer, so `mlpaint train` elsewhere goes through it.
    loopback = host in ("127.0.0.1", "localhost", "::1")
    return server.serve(
        path,
        host=host,
        port=port,
        threads=threads,
        allow_training=loopback,
        ready_message="open the paint page: ",
    )


def _has_model(path: os.PathLike[str]) -> bool:
    con = db.connect(path, read_only=True)
    try:
        return registry.active_model_ref(con) is not None
    finally:
        con.close()
