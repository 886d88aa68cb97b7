"""``<db>.server.json``: where a running server says where it is, for the other commands.

``mlpaint train`` and ``mlpaint models`` read it to go through the server that holds the file;
``mlpaint serve`` writes it. Reading it needs no web stack.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlpaint import db


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


def announce(db_path: Path, info: dict[str, Any]) -> str | None:
    """Write the announcement for ``db_path``; None when written, else why not.

    The first server to announce keeps the file: a second read-only server beside it serves
    unannounced. A stale file (its server gone) is replaced.
    """
    path = announcement_path(db_path)
    for _ in range(2):
        try:
            with path.open("x", encoding="utf-8") as handle:
                handle.write(json.dumps(info))
            return None
        except FileExistsError:
            other = running_server(db_path)
            if other is not None:
                return f"{path} announces the server at {other['url']} (pid {other['pid']})"
            path.unlink(missing_ok=True)  # stale: its server is gone
        except OSError as exc:
            return f"cannot write {path} ({exc.strerror})"
    return f"{path} was taken by another server starting at the same time"


def withdraw(db_path: Path, pid: int) -> None:
    """Remove the announcement, if it is still the one process ``pid`` wrote."""
    path = announcement_path(db_path)
    try:
        if json.loads(path.read_text())["pid"] == pid:
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass  # gone, unreadable, or another's: not ours to remove
