"""Which rows each bag learns from: the SQL hash rule of ``sql/bags.sql``, applied in SQL.

Without replacement, a bag is the fold's training rows that ``in_bag(id, seed, bag, fraction)``
keeps, so it is a query any machine holding a copy of the data selects identically. With
``bag_replacement`` the query keeps every training row and the bag is drawn from them with NumPy,
seeded by ``(seed, bag)``, on whichever machine trains it (also repeatable, but not a query).
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
    con = duckdb.connect()
    try:
        db.run_script(con, "bags.sql")
        con.register("bag_ids", pa.table({"id": pa.array(np.asarray(ids, dtype=np.int64))}))
        rows = con.sql(
            f"SELECT {BAG_PREDICATE} AS kept FROM bag_ids",
            params=bag_parameters(seed, bag, fraction),
        ).to_arrow_table()
    finally:
        con.close()
    return rows.column("kept").to_numpy(zero_copy_only=False).astype(bool)
