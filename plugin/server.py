"""``mlpaint serve``: the app on waitress, announced beside the database for other commands."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import waitress

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


@contextmanager
def announced(db_path: Path, url: str, allow_training: bool) -> Iterator[None]:
    """Write the announcement while the server runs; remove it however the server stops."""
    path = announcement_path(db_path)
    info = {"url": url, "pid": os.getpid(), "allow_training": allow_training}
    path.write_text(json.dumps(info))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def serve(
    db_path: str | os.PathLike[str] | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 8,
    allow_training: bool = False,
    ready_message: str = "",
) -> int:
    """Serve the API and paint page with waitress until interrupted."""
    path = db.resolve_db_path(db_path)
    if not path.exists():
        print(f"mlpaint serve: {path}: no database; run `mlpaint import` first", file=sys.stderr)
        return 1
    app = create_app({"DATABASE": str(path), "ALLOW_TRAINING": allow_training})
    server = waitress.create_server(app, host=host, port=port, threads=threads, ident="mlpaint")
    url = f"http://{_display_host(host)}:{server.effective_port}/"
    # SIGTERM ends the loop like Ctrl-C, so the announcement is removed.
    signal.signal(signal.SIGTERM, _interrupt)
    with announced(path, url, allow_training):
        mode = "read-write, training allowed" if allow_training else "read-only"
        print(f"{ready_message}mlpaint serving {path} ({mode}) at {url}", flush=True)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            app.extensions["mlpaint"].close()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host
