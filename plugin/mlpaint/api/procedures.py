"""``/v1/procedures``: training runs started over REST, run one at a time in the background.

A run can be cancelled (``DELETE .../runs/<id>``): its progress callback raises
``training.Cancelled`` at the next boosting round (or phase), before anything is written.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Blueprint, current_app, url_for

from mlpaint import training
from mlpaint.api.errors import APIError
from mlpaint.api.guards import state_changing
from mlpaint.api.inputs import json_body
from mlpaint.experiment import ConfigError, ExperimentConfig
from mlpaint.serving import Serving, training_server

bp = Blueprint("procedures", __name__, url_prefix="/v1/procedures")


@dataclass
class Run:
    """One training run's state as reported by ``GET .../runs/<id>``."""

    id: int
    procedure: str
    state: str = "running"  # running, then finished, failed or cancelled
    progress: float = 0.0
    message: str = "starting"
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class Runs:
    """The runs of this server process; one training at a time (it takes every core)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[int, Run] = {}
        self._stops: dict[int, threading.Event] = {}  # set = cancel the run
        self._ids = itertools.count(1)

    def start(self, state: Serving, name: str, config: ExperimentConfig) -> Run:
        """Start training ``config`` as ``name`` in a thread; 409 if one is running."""
        with self._lock:
            if any(run.state == "running" for run in self._runs.values()):
                raise APIError(
                    409, "a training run is in progress; wait for it to finish or cancel it"
                )
            run = Run(next(self._ids), name)
            self._runs[run.id] = run
            stop = self._stops[run.id] = threading.Event()
        threading.Thread(target=_train, args=(state, run, config, stop), daemon=True).start()
        return run

    def cancel(self, name: str, run_id: int) -> Run:
        """Ask a running run to stop; 404 if unknown, 409 once it has ended."""
        with self._lock:
            run = self.get(name, run_id)
            if run.state != "running":
                raise APIError(409, f"run {run_id} of {name!r} has already ended ({run.state})")
            self._stops[run_id].set()
            run.message = "cancelling: stops at the next boosting round; nothing is written"
        return run

    def get(self, name: str, run_id: int) -> Run:
        """A run by procedure name and id; 404 if unknown."""
        run = self._runs.get(run_id)
        if run is None or run.procedure != name:
            raise APIError(404, f"no run {run_id} of procedure {name!r}")
        return run


def _train(state: Serving, run: Run, config: ExperimentConfig, stop: threading.Event) -> None:
    def progress(fraction: float, message: str) -> None:
        if stop.is_set():
            raise training.Cancelled
        run.progress, run.message = fraction, message

    try:
        with state.cursor() as cursor:
            report = training.train(
                cursor, config, run.procedure, progress=False, on_progress=progress
            )
        state.refresh()
        run.result = {
            "name": report.name,
            "version": report.version,
            "metrics": report.metrics,
            "n_trees": report.n_trees,
            "seconds": report.seconds,
            "summary": training.format_report(report),
        }
        run.state, run.progress, run.message = "finished", 1.0, "done"
    except training.Cancelled:
        run.state, run.message = "cancelled", "cancelled; nothing was written"
    except Exception as exc:  # reported through the run; nothing was written
        run.state, run.error, run.message = "failed", str(exc), "failed"
    finally:
        run.finished_at = time.time()


def runs() -> Runs:
    """This app's run book."""
    return current_app.extensions["mlpaint.runs"]


@bp.put("/<name>")
@state_changing
def start(name: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Train a model called ``name`` from a JSON config (the TOML's keys); returns the run id."""
    state = training_server()
    try:
        training.check_name(name)
        config = ExperimentConfig.from_dict(json_body())
        with state.cursor() as cursor:
            training.check_config(cursor, config)
    except ConfigError as exc:
        raise APIError(400, str(exc)) from exc
    run = runs().start(state, name, config)
    location = url_for("procedures.get_run", name=name, run_id=run.id)
    return {"id": run.id, "state": run.state, "url": location}, 202, {"Location": location}


@bp.get("/<name>/runs/<int:run_id>")
def get_run(name: str, run_id: int) -> dict[str, Any]:
    """A run's state, progress (0..1) and, when finished, its metrics."""
    return asdict(runs().get(name, run_id))


@bp.delete("/<name>/runs/<int:run_id>")
@state_changing
def cancel_run(name: str, run_id: int) -> tuple[dict[str, Any], int]:
    """Cancel a running run: it stops at its next boosting round and writes nothing."""
    return asdict(runs().cancel(name, run_id)), 202
