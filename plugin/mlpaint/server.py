"""``mlpaint serve``: the app on gunicorn, announced beside the database for other commands."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import duckdb
from flask import Flask
from gunicorn.app.base import BaseApplication

from mlpaint import db, registry
from mlpaint.announcement import announce, withdraw
from mlpaint.app import create_app
from mlpaint.worker import BufferedWSGI, Worker


def check_database(path: Path, *, writable: bool) -> None:
    """Open the database as a worker will and read what it reads first, then close it.

    A file that is locked, unwritable or damaged then fails here, in one line, before any
    worker is forked or "serving" is said; in the workers it would fail once in each.
    """
    con = db.connect(path, read_only=not writable)
    try:
        ref = registry.active_model_ref(con)
        if ref is not None:  # a worker loads the active model first: read its bytes
            db.query_one(
                con, "SELECT octet_length(model) FROM models WHERE name = ? AND version = ?", [*ref]
            )
    except duckdb.Error as exc:
        raise db.DatabaseError(f"{path} is damaged ({db.error_reason(exc)})") from exc
    finally:
        con.close()


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """gunicorn run from Python: each worker process builds its own app (and DuckDB connection)."""

    def __init__(self, app_config: dict[str, Any], options: dict[str, Any], threads: int) -> None:
        self.app_config = app_config
        self.options = options
        self.threads = threads
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> BufferedWSGI:
        try:
            app = create_app(self.app_config)
        except (db.DatabaseBusyError, db.DatabaseError, FileNotFoundError, duckdb.Error) as exc:
            print(f"mlpaint serve: {exc}", file=sys.stderr, flush=True)
            sys.exit(3)  # gunicorn's "worker failed to boot": the master stops too
        limit = app.config["MAX_CONTENT_LENGTH"]
        return BufferedWSGI(app, threads=self.threads, max_body=limit)


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

    Call it from a process that has not trained or left DuckDB open (``mlpaint demo`` execs a
    fresh ``mlpaint serve``): workers are forked, and forked thread pools are not safe. The
    database is opened and closed here first, which leaves no threads behind.
    """
    path = db.existing_db_path(db_path)
    check_database(path, writable=allow_training)
    # Reading processes can share the file; the single writer must be one process.
    workers = 1 if allow_training else max(1, workers)
    url = f"http://{_display_host(host)}:{port}/"
    mode = "read-write, training allowed" if allow_training else "read-only"
    pid = os.getpid()
    info = {"url": url, "pid": pid, "allow_training": allow_training}

    def when_ready(_: Any) -> None:
        unannounced = announce(path, info)
        if unannounced:
            print(f"mlpaint serve: {unannounced}; serving unannounced", file=sys.stderr)
        print(f"{ready_message}mlpaint serving {path} ({mode}) at {url}", flush=True)

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": Worker,
        "asgi_lifespan": "off",
        "timeout": 30,  # also the longest pause allowed inside a request body
        "graceful_timeout": 10,
        "limit_request_line": 8190,  # a GET scorer call carries 784 pixels in its URL
        "loglevel": "warning",
        "accesslog": None,
        "when_ready": when_ready,
        "on_exit": lambda _: withdraw(path, pid),
        "worker_exit": _close_database,
    }
    app_config = {"DATABASE": str(path), "ALLOW_TRAINING": allow_training}
    _Gunicorn(app_config, options, threads).run()
    return 0


def _close_database(_: Any, worker: Any) -> None:
    """Close a worker's DuckDB connection, once no request uses it, before the interpreter ends."""
    app = getattr(worker, "asgi", None)
    if isinstance(app, BufferedWSGI) and isinstance(app.app, Flask):
        app.close()  # DuckDB refuses to close a connection a request thread is using
        app.app.extensions["mlpaint"].close()


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host
