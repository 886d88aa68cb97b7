"""``mlpaint demo``: import MNIST if needed, train the default model if none, serve the page."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

from mlpaint import db, registry, training
from mlpaint.experiment import load_config
from mlpaint.importer import import_digits

# Measured on the 2-core reference machine: `mlpaint train` of the default, 7 min 52 s on
# 2026-12-06 with the verdict's detector and threshold (README, "Benchmarks").
DEFAULT_TRAINING_MINUTES = 8


def run_demo(
    db_path: str | os.PathLike[str] | None,
    *,
    host: str,
    port: int,
    threads: int,
    config_path: Path | None = None,
) -> NoReturn:
    """Make sure there are digits and a model, then serve (training allowed on loopback)."""
    path = db.resolve_db_path(db_path)
    print(import_digits(path).message, flush=True)
    if not _has_model(path):
        _train_first_model(path, config_path)
    # On loopback the demo is the single writer, so `mlpaint train` elsewhere goes through it.
    loopback = host in ("127.0.0.1", "localhost", "::1")
    print(f"open the paint page: http://{host}:{port}/", flush=True)
    # Serve from a fresh process: the import and training above started thread pools that a
    # forking server must not inherit.
    command = [sys.executable, "-m", "mlpaint", "serve", "--db", str(path), "--host", host]
    command += ["--port", str(port), "--threads", str(threads)]
    os.execv(sys.executable, command + (["--allow-training"] if loopback else []))


def _train_first_model(path: Path, config_path: Path | None) -> None:
    name = config_path.stem if config_path else "default"
    which = config_path or "experiments/default.toml"
    minutes = (
        "" if config_path else f"; this takes about {DEFAULT_TRAINING_MINUTES} minutes on 2 cores"
    )
    print(f"no model yet: training {name!r} from {which}{minutes}", flush=True)
    con = db.connect(path)
    try:
        report = training.train(con, load_config(config_path), name, progress=True)
    finally:
        con.close()
    print(training.format_report(report))


def _has_model(path: os.PathLike[str]) -> bool:
    con = db.connect(path, read_only=True)
    try:
        return registry.active_model_ref(con) is not None
    finally:
        con.close()
