"""Where the files shipped with mlpaint live: SQL scripts, the web page, MNIST, configs."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the directory ``name`` (sql, web, data/mnist, experiments) of this install."""
    # A wheel carries the folders inside the package; a source checkout keeps them at the top.
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mlpaint resource folder {name!r} is missing from this install")


def sql_path(script: str) -> Path:
    """Return the path of the SQL script ``script`` (e.g. ``folds.sql``)."""
    return resource_dir("sql") / script
