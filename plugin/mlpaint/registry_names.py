"""The registry's names in files written before they were settled, and their upgrade.

Registries written before the names were settled called the pin table ``active_model``, the
active model's view ``serving_model``, and the model column of ``model_confusion`` and
``model_predictions`` ``model``. ``sql/models.sql`` only creates what is missing, so
``upgrade`` renames those first; a read-only connection cannot, and reads the old names.
"""

from __future__ import annotations

import duckdb

from mlpaint import db

# Tables whose column "model" (models.name) is now called "name".
NAME_COLUMN_TABLES = ("model_confusion", "model_predictions")


def outdated(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the registry still has any of the old names."""
    return _pin_is_old(con) or any(name_column(con, t) == "model" for t in NAME_COLUMN_TABLES)


def upgrade(con: duckdb.DuckDBPyConnection) -> None:
    """Rename the old names (each step only where needed); the caller holds a transaction."""
    if _pin_is_old(con):
        # The views are rebuilt by models.sql; the old ones read the table being renamed.
        con.execute("DROP VIEW IF EXISTS models_summary")
        con.execute("DROP VIEW IF EXISTS serving_model")
        con.execute("ALTER TABLE active_model RENAME TO pinned_model")
    for table in NAME_COLUMN_TABLES:
        if name_column(con, table) == "model":
            con.execute(f"ALTER TABLE {db.quote_identifier(table)} RENAME COLUMN model TO name")


def active_view(con: duckdb.DuckDBPyConnection) -> str:
    """The view holding the active model: ``active_model``, or an old file's ``serving_model``."""
    return "serving_model" if _pin_is_old(con) else "active_model"


def name_column(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The column of ``table`` holding models.name: ``name``, or an old file's ``model``."""
    row = db.query_one(
        con,
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = ? AND column_name = 'model'",
        [table],
    )
    return "model" if row and row[0] else "name"


def writable(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``con`` may write to its database (it was not opened read-only)."""
    row = db.query_one(
        con, "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
    )
    return bool(row) and not row[0]


def _pin_is_old(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``active_model`` is still the pin table (today it is the active model's view)."""
    row = db.query_one(
        con,
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_name = 'active_model'",
    )
    return bool(row) and row[0] == "BASE TABLE"
