"""``mlpaint train`` and ``mlpaint models``: locally, or through the server holding the file."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlpaint import announcement, db, registry, training
from mlpaint.bagtraining import ClusterError
from mlpaint.commanderror import EXIT_BAD_INPUT, CommandError
from mlpaint.experiment import ClusterSpec, ConfigError, ExperimentConfig, load_config
from mlpaint.progress import Progress

PathLike = str | os.PathLike[str] | None
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
CANCEL_WAIT_S = 120  # a boosting round on a large config can take seconds


def train_command(
    db_path: PathLike,
    config_path: Path | None,
    name: str | None,
    *,
    dask: str | None = None,
    shared_dir: str | None = None,
) -> int:
    """Train from a config; through the running server when one holds the database."""
    try:
        config = with_cluster(load_config(config_path), dask, shared_dir)
    except (ConfigError, OSError) as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from exc
    name = name or (config_path.stem if config_path else "default")
    db.existing_db_path(db_path)
    try:
        con = db.connect(db_path)
    except db.DatabaseBusyError:
        return _train_via_server(db_path, config.to_dict(), name)
    try:
        report = training.train(con, config, name, progress=True)
    except ConfigError as exc:
        raise CommandError(f"{exc}; nothing was written", EXIT_BAD_INPUT) from exc
    except ClusterError as exc:
        raise CommandError(f"{exc}; nothing was written") from exc
    finally:
        con.close()
    print(training.format_report(report))
    return 0


def with_cluster(
    config: ExperimentConfig, dask: str | None, shared_dir: str | None
) -> ExperimentConfig:
    """The config with the command line's cluster settings over its ``[cluster]`` table."""
    if dask is None and shared_dir is None:
        return config
    cluster = ClusterSpec(
        dask if dask is not None else config.cluster.dask,
        shared_dir if shared_dir is not None else config.cluster.shared_dir,
    )
    return dataclasses.replace(config, cluster=cluster)


def list_command(db_path: PathLike) -> int:
    """Print the models table; the active one is starred."""
    db.existing_db_path(db_path)
    try:
        con = db.connect(db_path, read_only=True)
    except db.DatabaseBusyError:
        models = _call(_writable_server(db_path, need_training=False), "GET", "v1/models")
        print(format_models(models["models"]))
        return 0
    try:
        print(format_models(registry.list_models(con)))
    finally:
        con.close()
    return 0


def activate_command(db_path: PathLike, name: str, version: int | None) -> int:
    """Make a model the active one, locally or through the server."""
    db.existing_db_path(db_path)
    try:
        con = db.connect(db_path)
    except db.DatabaseBusyError:
        url = _writable_server(db_path, need_training=True)
        body = {"version": version} if version is not None else {}
        ref = _call(url, "POST", f"v1/models/{quote(name, safe='')}/activate", body)["active"]
        print(f"active model: {ref['name']} version {ref['version']} (the server switched to it)")
        return 0
    try:
        ref = registry.activate(con, name, version)
    except (registry.ModelNotFoundError, registry.UnservableModelError) as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from exc
    finally:
        con.close()
    print(f"active model: {ref[0]} version {ref[1]}")
    return 0


def format_models(models: list[dict[str, Any]]) -> str:
    """The models as an aligned text table."""
    if not models:
        return "no models yet; run `mlpaint train`"
    header = f"  {'name':<20} {'ver':>3}  {'created':<19}  {'top-1':>7}  {'MLDB 1-vs-rest':>14}"
    lines = [header + f"  {'trees':>6}  {'size':>8}"]
    for m in models:
        lines.append(
            f"{'*' if m['active'] else ' '} {m['name']:<20} {m['version']:>3}  "
            f"{str(m['created_at'])[:19]:<19}  {m['accuracy']:>7.2%}  "
            f"{m['mldb_weighted_accuracy']:>14.4f}  {m['n_trees']:>6}  "
            f"{m['size_bytes'] / 1e6:>6.1f} MB"
        )
    return "\n".join([*lines, "(* = active; top-1 and MLDB's one-vs-rest accuracy on test rows)"])


def _writable_server(db_path: PathLike, *, need_training: bool) -> str:
    """The URL of the server holding the database, or a message saying what to do."""
    path = db.resolve_db_path(db_path)
    info = announcement.running_server(path)
    if info is None:
        raise CommandError(
            f"{path} is locked by another process that is not an mlpaint server; "
            "stop it and run this again"
        )
    if need_training and not info.get("allow_training"):
        raise CommandError(
            f"{path} is held read-only by `mlpaint serve` (pid {info['pid']}, {info['url']}). "
            "Either stop that server and run this again, or restart it with "
            "`mlpaint serve --allow-training`: this command then runs through the server, "
            "which switches to the new model without a restart."
        )
    return str(info["url"])


def _train_via_server(db_path: PathLike, config: dict[str, Any], name: str) -> int:
    url = _writable_server(db_path, need_training=True)
    print(f"the database is held by the server at {url}; training through it")
    run_path = None
    try:
        with _ctrl_c_held():  # a Ctrl-C during the PUT waits until the run's id is known
            run_path = _call(url, "PUT", f"v1/procedures/{name}", config)["url"].lstrip("/")
        state = _follow(url, run_path, name)
    except KeyboardInterrupt:
        if run_path is None:  # no run was started
            raise
        # Ctrl-C here must stop the server's run too, or it would save and activate a model.
        raise _cancel(url, run_path) from None
    if state["state"] == "failed":
        raise CommandError(f"training failed on the server: {state['error']}")
    if state["state"] == "cancelled":
        raise CommandError("the run was cancelled on the server; nothing was written")
    print(state["result"]["summary"])
    return 0


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold SIGINT back during a block; it arrives (as KeyboardInterrupt) right after."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _follow(url: str, run_path: str, name: str) -> dict[str, Any]:
    """Poll a run, showing its progress, until it stops running."""
    with Progress(100, f"training {name}", "percent") as bar:
        while True:
            state = _call(url, "GET", run_path)
            bar.describe(state["message"][:40])
            bar.advance_to(round(state["progress"] * 100))
            if state["state"] != "running":
                return state
            time.sleep(0.5)


def _cancel(url: str, run_path: str) -> CommandError:
    """Cancel the server's run, wait until it has stopped, and say what became of it."""
    with contextlib.suppress(CommandError):  # a 409: it ended meanwhile, and the wait says how
        _call(url, "DELETE", run_path)
    deadline = time.monotonic() + CANCEL_WAIT_S
    try:
        state = _call(url, "GET", run_path)
        while state["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            state = _call(url, "GET", run_path)
    except KeyboardInterrupt:
        state = {"state": "running"}
    outcome = {
        "cancelled": "the server's run was cancelled and nothing was written",
        "failed": "the server's run failed and nothing was written",
        "running": f"the server's run was asked to stop and is still stopping: {url}/{run_path}",
    }
    if state["state"] == "finished":
        saved = state["result"]
        message = (
            f"too late: the server had already saved {saved['name']} version {saved['version']}"
        )
    else:
        message = outcome[state["state"]]
    return CommandError(f"interrupted; {message}", EXIT_INTERRUPTED)


def _call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One JSON request to the server; its JSON error becomes a CommandError."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base.rstrip("/") + "/" + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise CommandError(f"the server answered {exc.code}: {_error_message(exc)}") from exc
    except urllib.error.URLError as exc:
        raise CommandError(f"cannot reach the server at {base}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # A timeout, a dropped connection, or an answer that is not JSON.
        raise CommandError(f"no usable answer from the server at {base}: {exc}") from exc


def _error_message(exc: urllib.error.HTTPError) -> str:
    """The message of the server's JSON error, or the HTTP reason when it sent none."""
    try:
        return str(json.loads(exc.read())["error"]["message"])
    except (OSError, ValueError, KeyError, TypeError):
        return str(exc.reason)
