"""Every script in sql/ runs against a real database built from a small slice."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pytest

from mlpaint import db
from mlpaint.resources import resource_dir
from mlpaint.sqlrunner import print_results, statements

SCRIPTS = sorted(p.name for p in resource_dir("sql").glob("*.sql"))


def test_the_scripts_users_need_are_shipped() -> None:
    assert {"schema.sql", "folds.sql", "explore.sql"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_runs_on_the_slice(script: str, small_db: Path) -> None:
    con = duckdb.connect(str(small_db))
    try:
        out = io.StringIO()
        print_results(con, db.read_script(script), "csv", out)
    finally:
        con.close()
    text = db.read_script(script)
    assert statements(text), script
    assert "Error" not in out.getvalue()


def test_explore_answers_the_questions(small_db: Path) -> None:
    con = duckdb.connect(str(small_db), read_only=True)
    try:
        results = [rel.fetchall() for rel in _results(con, db.read_script("explore.sql"))]
    finally:
        con.close()
    splits, per_label, ink, examples, mean_image = results
    assert {row[0] for row in splits} == {"train", "test"}
    assert sum(row[1] for row in splits) == 3000 and all(row[2] == 784 for row in splits)
    assert [row[0] for row in per_label] == list(range(10))
    ink_by_label = {row[0]: row[1] for row in ink}
    assert ink_by_label[1] < ink_by_label[0] and ink_by_label[1] < ink_by_label[8]
    assert len(examples) == 10
    assert len(mean_image) == 28 and all(len(row[1]) == 28 for row in mean_image)
    assert any("#" in row[1] for row in mean_image)


def _results(con: duckdb.DuckDBPyConnection, text: str) -> list[duckdb.DuckDBPyRelation]:
    from mlpaint.sqlrunner import run_script_results

    return [rel for rel in run_script_results(con, text)]
