"""Where the files shipped with mlpaint live: SQL scripts, the web page, MNIST, configs."""

from __future__ import annotations

from pathlib import Path

# In a checkout these are links to the repository's top-level folders; a wheel holds copies.
_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the directory ``name`` (sql, web, data/mnist, experiments) of this install."""
    path = _PACKAGE / name
    if not path.is_dir():
        raise FileNotFoundError(f"mlpaint resource folder {name!r} is missing from this install")
    return path


def sql_path(script: str) -> Path:
    """Return the path of the SQL script ``script`` (e.g. ``folds.sql``)."""
    return resource_dir("sql") / script
