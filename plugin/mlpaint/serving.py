"""The server's state: one DuckDB connection, the models it scores with, its SQL functions."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from flask import current_app

from mlpaint import db, registry, sqlfunctions
from mlpaint.api.errors import APIError
from mlpaint.registry import LoadedModel, ModelNotFoundError


class Serving:
    """Owns the database connection and a cache of loaded models, shared by request threads.

    DuckDB allows one writing process or many reading ones per file. A server opens the file
    read-only, so other readers (``mlpaint sql``) can work beside it; with ``allow_training`` it
    is the single writer instead, and training and activation go through it (``mlpaint train``
    finds it). Either way nothing else changes the registry while it runs, so the cached models
    stay true until the server itself trains or activates, when it calls ``refresh``.
    """

    def __init__(
        self, db_path: str | Path | None, *, allow_training: bool = False, memory_limit: str = "2GB"
    ) -> None:
        self.db_path = db.resolve_db_path(db_path)
        self.allow_training = allow_training
        # No file access from SQL (no read_csv, COPY, ATTACH, INSTALL), fixed for the lifetime.
        config: dict[str, str | int | bool] = {
            "enable_external_access": False,
            "memory_limit": memory_limit,
            "lock_configuration": True,
        }
        self.con = db.connect(self.db_path, read_only=not allow_training, config=config)
        self._lock = threading.RLock()
        self._models: dict[tuple[str, int], LoadedModel] = {}
        self._refs: dict[str | None, tuple[str, int]] = {}
        self.refresh()

    def close(self) -> None:
        """Close the database connection."""
        self.con.close()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of its own for one request (DuckDB cursors are not shared by threads)."""
        cursor = self.con.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def model(self, name: str | None = None, version: int | None = None) -> LoadedModel:
        """A loaded model: None = the active one. Raises ``ModelNotFoundError``."""
        with self._lock:
            ref = self._refs.get(name) if version is None else (name, version)
            if ref is None or ref not in self._models:
                with self.cursor() as cursor:
                    ref = registry.resolve(cursor, name, version)
                    if ref not in self._models:
                        self._models[ref] = registry.load_model(cursor, *ref)
                if name is None and version is None:
                    # The active model, the page's and the REST routes': no request should
                    # wait for what every later one reuses (on the default, splitting the
                    # trees by digit takes about a second). The other models, loaded for their
                    # SQL functions, build it on first use.
                    self._models[ref].model.warm()
                if version is None:
                    self._refs[name] = ref
            return self._models[ref]

    def active_ref(self) -> tuple[str, int] | None:
        """(name, version) of the active model, or None when there is none."""
        try:
            loaded = self.model()
        except ModelNotFoundError:
            return None
        return loaded.name, loaded.version

    def refresh(self) -> None:
        """Forget which versions names point to and re-register the SQL functions."""
        with self._lock:
            self._refs.clear()
            # With no model yet, the ml_* functions appear after the first training.
            with contextlib.suppress(ModelNotFoundError):
                sqlfunctions.register(self.con, load=self.model)

    def require_training(self) -> None:
        """Raise ``PermissionError`` unless the server was started to accept writes."""
        if not self.allow_training:
            raise PermissionError(
                "this server is read-only; start it with `mlpaint serve --allow-training` "
                "to train or activate models through it"
            )


def serving() -> Serving:
    """The app's shared server state."""
    return current_app.extensions["mlpaint"]


def training_server() -> Serving:
    """The server state when it accepts writes (training, activation); else 403."""
    state = serving()
    try:
        state.require_training()
    except PermissionError as exc:
        raise APIError(403, str(exc)) from exc
    return state
