"""Which rows each bag learns from: the SQL hash rule of ``sql/bags.sql``, applied in SQL.

Without replacement, a bag is the fold's training rows that ``in_bag(id, seed, bag, fraction)``
keeps, so it is a query any machine holding a copy of the data selects identically. With
``bag_replacement`` the query keeps every training row and the bag is drawn from them with NumPy,
seeded by ``(seed, bag)``, on whichever machine trains it (also repeatable, but not a query).
For rows in memory, ``bag_mask`` and ``held_out_mask`` apply the same SQL rules to their ids.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from mlpaint import db

# Appended to a fold's training predicate (a filter on the digits table) for one bag's rows.
BAG_PREDICATE = "in_bag(id, $bag_seed, $bag, $bag_fraction)"


def selects_rows(fraction: float, replacement: bool) -> bool:
    """Whether bags are chosen in SQL (without replacement, a fraction below 1)."""
    return not replacement and fraction < 1.0


def bag_parameters(seed: int, bag: int, fraction: float) -> dict[str, Any]:
    """The values ``BAG_PREDICATE`` takes, bound as parameters (never formatted into SQL)."""
    return {"bag_seed": seed, "bag": bag, "bag_fraction": fraction}


def bag_mask(ids: np.ndarray, seed: int, bag: int, fraction: float) -> np.ndarray:
    """(n,) bool: which of ``ids`` are in the bag, by the same SQL rule (for in-memory data)."""
    return _rule_mask("bags.sql", ids, BAG_PREDICATE, bag_parameters(seed, bag, fraction))


def held_out_mask(ids: np.ndarray) -> np.ndarray:
    """(n,) bool: which of ``ids`` the hash folds hold out for testing (``sql/folds.sql``)."""
    return _rule_mask("folds.sql", ids, "is_test_fold(id)", {})


def _rule_mask(script: str, ids: np.ndarray, predicate: str, params: dict) -> np.ndarray:
    """``predicate`` for each of ``ids``, with ``script``'s macros, in a throwaway DuckDB."""
    con = duckdb.connect()
    try:
        # Registered as ``digits``: the fold script's views read that table.
        con.register("digits", pa.table({"id": pa.array(np.asarray(ids, dtype=np.int64))}))
        db.run_script(con, script)
        rows = con.sql(f"SELECT {predicate} AS kept FROM digits", params=params).to_arrow_table()
    finally:
        con.close()
    return rows.column("kept").to_numpy(zero_copy_only=False).astype(bool)
