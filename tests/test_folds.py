"""The fold rule lives in sql/folds.sql only: the default experiment and the API use its macros
and views, and a database imported before the macros existed still serves and trains."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from conftest import write_idx_pair
from mlpaint import db
from mlpaint.cli import main
from mlpaint.experiment import DEFAULT_FOLD, OFFICIAL_FOLD, load_config
from mlpaint.importer import import_digits

# sql/folds.sql as the releases before fold_of and is_test_fold wrote it into every database.
OLD_FOLDS_SQL = """
CREATE OR REPLACE MACRO row_hash(id) AS ('0x' || left(md5(CAST(id AS VARCHAR)), 16))::UBIGINT;
CREATE OR REPLACE VIEW digits_train AS SELECT * FROM digits WHERE row_hash(id) % 5 != 0;
CREATE OR REPLACE VIEW digits_test AS SELECT * FROM digits WHERE row_hash(id) % 5 = 0;
CREATE OR REPLACE VIEW digits_folds AS
SELECT *, CAST(row_hash(id) % 5 AS UTINYINT) AS fold FROM digits;
DROP MACRO is_test_fold;
DROP MACRO fold_of;
"""


def is_test_id(i: int) -> bool:
    """The test fold computed in Python from the documented hash, independent of any SQL."""
    return int.from_bytes(hashlib.md5(str(i).encode()).digest()[:8], "big") % 5 == 0


def macros(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_type = 'macro' "
            "AND database_name = current_database()"
        ).fetchall()
    finally:
        con.close()
    return {row[0] for row in rows}


@pytest.fixture
def old_db(small_db: Path) -> Path:
    """The 3,000-digit database with the folds an older release imported (no fold macros)."""
    con = duckdb.connect(str(small_db))
    try:
        con.execute(OLD_FOLDS_SQL)
    finally:
        con.close()
    assert {"row_hash"} <= macros(small_db) and not {"fold_of", "is_test_fold"} & macros(small_db)
    return small_db


def ids(con: duckdb.DuckDBPyConnection, sql: str) -> list[int]:
    return [row[0] for row in con.execute(sql).fetchall()]


def test_the_macros_views_and_default_fold_agree_with_the_documented_hash(small_db: Path) -> None:
    con = duckdb.connect(str(small_db), read_only=True)
    try:
        test = ids(con, "SELECT id FROM digits_test ORDER BY id")
        assert test == [i for i in range(3000) if is_test_id(i)]
        assert ids(con, "SELECT id FROM digits_train ORDER BY id") == [
            i for i in range(3000) if not is_test_id(i)
        ]
        # The default experiment's predicates are the views' own (SQL the config owner writes).
        for predicate, view in [
            (DEFAULT_FOLD.testing_where, "digits_test"),
            (DEFAULT_FOLD.training_where, "digits_train"),
        ]:
            chosen = ids(con, f"SELECT id FROM digits WHERE {predicate} ORDER BY id")
            assert chosen == ids(con, f"SELECT id FROM {view} ORDER BY id")
        folds = con.execute("SELECT count(*) FROM digits_folds WHERE fold != fold_of(id)")
        assert folds.fetchall() == [(0,)]
    finally:
        con.close()


@pytest.mark.parametrize("path", ["experiments/default.toml", "experiments/mldb_bbdt.toml"])
def test_the_shipped_experiments_use_the_default_fold(path: str) -> None:
    assert load_config(path).folds == (DEFAULT_FOLD,)


def test_an_old_database_serves_digits_read_only(old_db: Path, make_client) -> None:
    client = make_client(old_db)
    for fold in ("test", "train"):
        found = client.get("/v1/digits", query_string={"fold": fold, "offset": 3})
        assert found.status_code == 200 and found.json["fold"] == fold
        assert is_test_id(found.json["id"]) == (fold == "test")
        by_id = client.get(f"/v1/digits/{found.json['id']}")
        assert by_id.status_code == 200 and by_id.json["fold"] == fold
    assert client.get("/v1/digits/5000").status_code == 404
    client.application.extensions["mlpaint"].close()
    assert not {"fold_of", "is_test_fold"} & macros(old_db)  # a reader changes nothing


def test_a_writer_upgrades_an_old_database_and_the_default_folds_train(
    old_db: Path, tmp_path: Path, capsys
) -> None:
    config = tmp_path / "tiny.toml"  # no [[folds]]: the default fold
    config.write_text("[algorithm]\nbags = 1\nmax_iter = 3\nnum_leaves = 7\nnum_threads = 1\n")
    assert main(["train", "--db", str(old_db), "--config", str(config)]) == 0
    expected = sum(is_test_id(i) for i in range(3000))
    assert f"{3000 - expected} train / {expected} test rows" in capsys.readouterr().out
    assert {"fold_of", "is_test_fold"} <= macros(old_db)


def test_a_failing_upgrade_leaves_the_database_as_it_was(old_db: Path) -> None:
    con = duckdb.connect(str(old_db))
    try:
        # A user's own table under a view's name: folds.sql cannot replace it.
        con.execute("DROP VIEW digits_test; CREATE TABLE digits_test AS SELECT 1 AS mine")
    finally:
        con.close()
    writer = db.connect(old_db)
    try:
        assert writer.execute("SELECT * FROM digits_test").fetchall() == [(1,)]
        assert writer.execute("SELECT count(*) FROM digits_train").fetchall()[0][0] > 0
    finally:
        writer.close()
    assert not {"fold_of", "is_test_fold"} & macros(old_db)


def test_the_official_experiment_is_the_default_model_on_mnists_split() -> None:
    official = load_config("experiments/official.toml")
    default = load_config("experiments/default.toml")
    assert official.folds == (OFFICIAL_FOLD,)
    assert official.spec == default.spec  # the same model, only the split differs
    assert official.input_data == default.input_data


def test_the_official_split_trains_on_mnist_train_and_tests_on_mnist_test(
    tmp_path: Path, mnist_train: tuple, capsys
) -> None:
    images, labels = mnist_train
    folder = tmp_path / "idx"
    write_idx_pair(folder, images[:900], labels[:900], "train")
    write_idx_pair(folder, images[900:1200], labels[900:1200], "t10k")
    path = tmp_path / "split.duckdb"
    import_digits(path, [str(folder)], progress=False)
    config = tmp_path / "official.toml"
    folds = f'[[folds]]\ntraining_where = "{OFFICIAL_FOLD.training_where}"\n'
    folds += f'testing_where = "{OFFICIAL_FOLD.testing_where}"\n'
    config.write_text(folds + "[algorithm]\nbags = 1\nmax_iter = 3\nnum_threads = 1\n")
    assert main(["train", "--db", str(path), "--config", str(config)]) == 0
    assert "900 train / 300 test rows" in capsys.readouterr().out
