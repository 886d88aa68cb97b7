"""``mlpaint serve``: the app on gunicorn, announced beside the database for other commands."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from mlpaint import db
from mlpaint.app import create_app


def announcement_path(db_path: Path) -> Path:
    """Where a running server says where it is: ``<db>.server.json``."""
    return db_path.with_name(db_path.name + ".server.json")


def running_server(db_path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The announcement of a live server holding ``db_path``, or None (stale ones ignored)."""
    path = announcement_path(db.resolve_db_path(db_path))
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """gunicorn run from Python: each worker process builds its own app (and DuckDB connection)."""

    def __init__(self, app_config: dict[str, Any], options: dict[str, Any]) -> None:
        self.app_config = app_config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        try:
            return create_app(self.app_config)
        except (db.DatabaseBusyError, FileNotFoundError) as exc:
            print(f"mlpaint serve: {exc}", file=sys.stderr, flush=True)
            sys.exit(3)  # gunicorn's "worker failed to boot": the master stops too


def serve(
    db_path: str | os.PathLike[str] | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 2,
    threads: int = 2,
    allow_training: bool = False,
    ready_message: str = "",
) -> int:
    """Serve the API and paint page with gunicorn until interrupted (Ctrl-C or SIGTERM).

    Call it from a process that has not opened DuckDB or trained (``mlpaint demo`` execs a
    fresh ``mlpaint serve``): workers are forked, and forked thread pools are not safe.
    """
    path = db.existing_db_path(db_path)
    # Reading processes can share the file; the single writer must be one process.
    workers = 1 if allow_training else max(1, workers)
    url = f"http://{_display_host(host)}:{port}/"
    mode = "read-write, training allowed" if allow_training else "read-only"
    announcement = announcement_path(path)
    info = {"url": url, "pid": os.getpid(), "allow_training": allow_training}

    def when_ready(_: Any) -> None:
        announcement.write_text(json.dumps(info))
        print(f"{ready_message}mlpaint serving {path} ({mode}) at {url}", flush=True)

    def on_exit(_: Any) -> None:
        announcement.unlink(missing_ok=True)

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": max(1, threads),
        "timeout": 120,
        "graceful_timeout": 10,
        "limit_request_line": 8190,  # a GET scorer call carries 784 pixels in its URL
        "loglevel": "warning",
        "accesslog": None,
        "when_ready": when_ready,
        "on_exit": on_exit,
        "worker_exit": _close_database,
    }
    _Gunicorn({"DATABASE": str(path), "ALLOW_TRAINING": allow_training}, options).run()
    return 0


def _close_database(_: Any, worker: Any) -> None:
    """Close a worker's DuckDB connection before the interpreter shuts down."""
    app = getattr(worker, "wsgi", None)
    if isinstance(app, Flask):
        app.extensions["mlpaint"].close()


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host
