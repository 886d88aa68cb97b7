"""Recent per-row results, keyed by the rows' bytes: one traversal of the trees per query slice.

DuckDB evaluates the functions of a projection one after the other on the same chunk, so
``SELECT ml_predict(pixels), ml_probabilities(pixels), ml_uncertainty(pixels),
ml_is_digit(pixels)`` (``sql/predict.sql``) would walk the trees once per function. The model
keeps the margins of the last slices it scored here, and the next function of the same chunk
finds them. Entries are keyed by a digest of the rows, so a hit is the same rows, byte for byte.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

# Bounds what one model keeps: a chunk's slices for every DuckDB thread of a busy server, a
# few MB, whatever the query.
BUDGET_BYTES = 16 * 1024 * 1024
MAX_ROWS = 2048  # larger batches (training's evaluation) are scored once; not kept


class RowMemo:
    """A least-recently-used memo of arrays computed from rows, at most ``budget`` bytes."""

    def __init__(self, budget: int = BUDGET_BYTES) -> None:
        self.budget = budget
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, kind: str, rows: np.ndarray, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()``'s (read-only) result for ``rows``, computed once while it is kept."""
        if not 0 < len(rows) <= MAX_ROWS:
            return compute()
        key = (kind, rows.shape, rows.dtype.str, _digest(rows))
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        value = compute()
        value.setflags(write=False)  # shared with every later caller
        self._keep(key, value)
        return value

    def clear(self) -> None:
        """Forget every entry (a benchmark's cold run)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __getstate__(self) -> dict:
        return {"budget": self.budget}  # a copy (pickled for a worker) starts empty

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["budget"])

    def _keep(self, key: tuple, value: np.ndarray) -> None:
        with self._lock:
            if key in self._entries or value.nbytes > self.budget:
                return
            self._entries[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.budget:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes


def _digest(rows: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(rows).data, digest_size=16).digest()
