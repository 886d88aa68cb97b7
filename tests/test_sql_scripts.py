"""Every script in sql/ runs against a real database built from a small slice."""

from __future__ import annotations

import io
import re
from pathlib import Path

import duckdb
import pytest

from mlpaint import db
from mlpaint.resources import resource_dir
from mlpaint.sqlrunner import print_results, statements

SCRIPTS = sorted(p.name for p in resource_dir("sql").glob("*.sql"))


def test_the_scripts_users_need_are_shipped() -> None:
    assert {"schema.sql", "folds.sql", "explore.sql", "evaluate.sql", "explain.sql"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_runs_on_the_slice(script: str, trained_db: Path) -> None:
    from mlpaint import sqlfunctions

    con = duckdb.connect(str(trained_db))
    try:
        sqlfunctions.register(con)
        # predict.sql reads the shard `mlpaint predict` hands it; here, the digits are one shard.
        con.execute("CREATE TEMP VIEW shard AS SELECT id, pixels FROM digits")
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


def test_evaluate_sql_matches_the_stored_metrics(trained_db: Path) -> None:
    from mlpaint import registry, sqlfunctions

    con = duckdb.connect(str(trained_db))
    try:
        sqlfunctions.register(con)
        results = [rel.fetchall() for rel in _results(con, db.read_script("evaluate.sql"))]
        stored = registry.get_model_info(con, "tiny")
    finally:
        con.close()
    headline, confusion, per_digit, mistakes = results
    test = stored["metrics"]["test"]
    rows, accuracy, mldb = headline[0]
    assert rows == stored["row_counts"][0]["test"]
    assert accuracy == pytest.approx(test["accuracy"], abs=1e-12)
    assert mldb == pytest.approx(test["mldb_weighted_accuracy"], abs=1e-12)
    assert [list(row[1:]) for row in confusion] == stored["confusion"][0]
    per_class = stored["metrics"]["folds"][0]["test"]["per_class"]
    for (digit, support, precision, recall), expected in zip(per_digit, per_class, strict=True):
        assert digit == expected["digit"] and support == expected["support"]
        assert precision == pytest.approx(expected["precision"], abs=1e-12)
        assert recall == pytest.approx(expected["recall"], abs=1e-12)
    assert len(mistakes) == 10
    assert all(m[1] != m[2] and len(m[4]) == 784 for m in mistakes)
    assert [m[3] for m in mistakes] == sorted((m[3] for m in mistakes), reverse=True)


def test_explain_sql_maps_and_one_example(trained_db: Path) -> None:
    from mlpaint import sqlfunctions

    con = duckdb.connect(str(trained_db))
    try:
        sqlfunctions.register(con)
        maps, ascii_map, example = [
            rel.fetchall() for rel in _results(con, db.read_script("explain.sql"))
        ]
    finally:
        con.close()
    assert [m[0] for m in maps] == list(range(10))
    assert all(len(m[1]) == 784 and min(m[1]) >= 0 and max(m[1]) > 0 for m in maps)
    assert len(ascii_map) == 28 and any("#" in row[1] for row in ascii_map)
    (_, _, _, bias, pixels_sum, score, explanation) = example[0]
    assert bias + pixels_sum == pytest.approx(score, abs=1e-4)
    assert len(explanation) == 784


def test_the_pages_example_queries_run(trained_db: Path) -> None:
    from mlpaint import sqlfunctions

    source = (resource_dir("web") / "sql.js").read_text(encoding="utf-8")
    examples = re.findall(r"sql: `([^`]*)`", source)
    assert len(examples) >= 5
    con = duckdb.connect(str(trained_db), read_only=True)
    try:
        sqlfunctions.register(con)
        answers = {sql: con.execute(sql).fetchall() for sql in examples}
    finally:
        con.close()
    mistakes = next(rows for sql, rows in answers.items() if "model_predictions" in sql)
    assert len(mistakes) == 10  # the active model's mistakes, through the registry's names
