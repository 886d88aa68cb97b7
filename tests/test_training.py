"""Experiment configs and training on a real 3,000-digit DuckDB file with tiny real models."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from mlpaint import db, registry
from mlpaint.experiment import DEFAULT_INPUT, ConfigError, ExperimentConfig, load_config
from mlpaint.training import check_config, format_report, load_rows, train

TINY = {"bags": 2, "max_iter": 5, "num_leaves": 15, "num_threads": 1}
WITH_ID = "SELECT id, pixels AS features, label FROM digits"
THREE_FOLDS = [
    {"training_where": f"row_hash(id) % 3 != {k}", "testing_where": f"row_hash(id) % 3 = {k}"}
    for k in range(3)
]


def make_config(**keys: Any) -> ExperimentConfig:
    """A tiny-model experiment reading ids, with ``keys`` overriding the top-level keys."""
    return ExperimentConfig.from_dict({"input_data": WITH_ID, "algorithm": TINY, **keys})


def is_test_id(i: int) -> bool:
    """The default fold's test rows, computed in Python from the documented hash."""
    return int.from_bytes(hashlib.md5(str(i).encode()).digest()[:8], "big") % 5 == 0


@pytest.fixture
def con(small_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable connection to a fresh copy of the 3,000-digit database."""
    connection = db.connect(small_db)
    yield connection
    connection.close()


def snapshot(con: duckdb.DuckDBPyConnection) -> tuple:
    """Every table and view with its row count, to prove a failed run changed nothing."""
    names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()]
    counts = [
        con.execute(f"SELECT count(*) FROM {db.quote_identifier(n)}").fetchall() for n in names
    ]
    return sorted(names), sorted(views), counts


def test_default_fold_trains_evaluates_and_registers(con: duckdb.DuckDBPyConnection) -> None:
    seen: list[tuple[float, str]] = []
    report = train(
        con, make_config(), "tiny", progress=False, on_progress=lambda f, m: seen.append((f, m))
    )
    assert (report.name, report.version) == ("tiny", 1)
    expected_test = sum(is_test_id(i) for i in range(3000))
    assert report.row_counts == [{"fold": 0, "train": 3000 - expected_test, "test": expected_test}]
    test = report.metrics["test"]
    assert report.metrics["n_folds"] == 1 and "train" not in report.metrics
    assert test == {k: report.metrics["folds"][0]["test"][k] for k in test}
    assert 0.6 < test["accuracy"] <= 1.0  # a tiny model still learns digits
    assert report.n_trees == 2 * 5 * 10 and report.n_boosters == 2
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    text = format_report(report)
    assert f"top-1 accuracy {test['accuracy']:.2%}" in text
    assert f"MLDB-style one-vs-rest weighted accuracy {test['mldb_weighted_accuracy']:.4f}" in text
    assert registry.list_models(con)[0]["accuracy"] == pytest.approx(test["accuracy"])


def test_same_config_same_model_and_metrics(con: duckdb.DuckDBPyConnection) -> None:
    first = train(con, make_config(), "a", progress=False)
    second = train(con, make_config(), "a", progress=False)
    assert second.version == 2
    assert first.metrics == second.metrics
    blobs = con.execute("SELECT model FROM models WHERE name = 'a' ORDER BY version").fetchall()
    assert blobs[0][0] == blobs[1][0]


def test_k_fold_gives_per_fold_metrics_and_mean_std(con: duckdb.DuckDBPyConnection) -> None:
    report = train(con, make_config(folds=THREE_FOLDS), "kfold", progress=False)
    m = report.metrics
    accuracies = [f["test"]["accuracy"] for f in m["folds"]]
    assert m["n_folds"] == 3 and len(set(accuracies)) > 1
    assert m["test"]["accuracy"] == pytest.approx(np.mean(accuracies))
    assert m["test_std"]["accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
    assert m["test_std"]["log_loss"] > 0
    counts = report.row_counts
    assert sum(r["test"] for r in counts) == 3000
    assert all(r["train"] + r["test"] == 3000 for r in counts)
    confusion = con.execute(
        "SELECT fold, sum(n), count(*) FROM model_confusion WHERE name = 'kfold' "
        "GROUP BY fold ORDER BY fold"
    ).fetchall()
    assert confusion == [(i, r["test"], 100) for i, r in enumerate(counts)]
    # The servable model is the first fold's: its stored predictions are fold 0's test rows.
    n_predictions = con.execute("SELECT count(*) FROM model_predictions").fetchall()[0][0]
    assert n_predictions == counts[0]["test"]


def test_evaluate_train_adds_training_metrics(con: duckdb.DuckDBPyConnection) -> None:
    report = train(con, make_config(evaluate_train=True), "t", progress=False)
    fold = report.metrics["folds"][0]
    assert fold["train"]["n"] == report.row_counts[0]["train"]
    assert report.metrics["train"]["accuracy"] == fold["train"]["accuracy"]
    assert "train top-1 accuracy" in format_report(report)


def test_predictions_join_to_digits(con: duckdb.DuckDBPyConnection) -> None:
    report = train(con, make_config(), "p", progress=False)
    rows = con.execute(
        "SELECT p.id, p.label, d.label, p.predicted, p.probabilities FROM model_predictions p "
        "JOIN digits d USING (id) WHERE p.name = 'p' AND p.version = 1 ORDER BY p.id"
    ).fetchall()
    assert len(rows) == report.row_counts[0]["test"]
    assert all(is_test_id(r[0]) for r in rows)
    assert all(r[1] == r[2] for r in rows)
    proba = np.array([r[4] for r in rows])
    assert [r[3] for r in rows] == proba.argmax(axis=1).tolist()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    accuracy = np.mean([r[1] == r[3] for r in rows])
    assert accuracy == pytest.approx(report.metrics["test"]["accuracy"])
    confusion = con.execute("SELECT sum(n) FROM model_confusion WHERE name = 'p'").fetchall()
    assert confusion[0][0] == len(rows)


def test_default_input_without_id_trains_but_stores_no_predictions(
    con: duckdb.DuckDBPyConnection,
) -> None:
    report = train(con, make_config(input_data=DEFAULT_INPUT), "noid", progress=False)
    assert report.row_counts[0]["test"] == sum(is_test_id(i) for i in range(3000))
    assert con.execute("SELECT count(*) FROM model_predictions").fetchall() == [(0,)]


def test_rows_load_as_matrices_in_id_order(con: duckdb.DuckDBPyConnection) -> None:
    cfg = make_config(input_data=WITH_ID + " ORDER BY id DESC")
    rows = load_rows(con, cfg, "id < 50", "key")
    assert rows.pixels.shape == (50, 784) and rows.pixels.dtype == np.uint8
    assert rows.ids is not None and rows.ids.tolist() == list(range(50))
    expected = con.execute("SELECT pixels FROM digits WHERE id = 7").fetchall()[0][0]
    assert rows.pixels[7].tolist() == list(expected)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"algorithm": {"bogus": 1}}, "bogus"),
        ({"colour": "blue"}, "colour"),
        ({"evaluate_train": "yes"}, "evaluate_train"),
        ({"folds": [{"training_where": "true"}]}, "testing_where"),
        ({"folds": [{"training_where": "x", "testing_where": "y", "z": 1}]}, "'z'"),
        ({"input_data": "SELEC pixels FROM digits"}, "input_data"),
        ({"input_data": "SELECT pixels AS features, label FROM other"}, "read the digits"),
        ({"input_data": "SELECT pixels AS features, label FROM main.digits"}, "main.digits"),
        ({"input_data": "DELETE FROM digits"}, "single SELECT"),
        ({"input_data": WITH_ID + "; DROP TABLE digits"}, "single SELECT"),
        (
            {"folds": [{"training_where": "true); DROP TABLE digits; (", "testing_where": "true"}]},
            "training_where",
        ),
    ],
)
def test_static_config_errors_name_the_key(keys: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(**keys)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"input_data": "SELECT pixels[1:700] AS features, label FROM digits"}, "784"),
        ({"input_data": "SELECT pixels AS features, label + 10 AS label FROM digits"}, "0..9"),
        ({"input_data": "SELECT pixels AS features, id AS label FROM digits"}, "label"),
        ({"input_data": "SELECT pixels AS f, label FROM digits"}, "features"),
        ({"input_data": "SELECT label AS features, label FROM digits"}, "features"),
        (
            {"folds": [{"training_where": "no_such_column > 1", "testing_where": "true"}]},
            r"folds\[0\].training_where",
        ),
        ({"folds": [{"training_where": "id < 100", "testing_where": "id < 0"}]}, "no rows"),
    ],
)
def test_data_errors_raise_and_change_nothing(
    con: duckdb.DuckDBPyConnection, keys: dict, message: str
) -> None:
    before = snapshot(con)
    with pytest.raises(ConfigError, match=message):
        train(con, make_config(**keys), "bad", progress=False)
    assert snapshot(con) == before


def test_a_label_11_in_the_table_is_reported(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("UPDATE digits SET label = 11 WHERE id = 4")
    before = snapshot(con)
    with pytest.raises(ConfigError, match=r"label must be whole numbers 0\.\.9, got 11"):
        train(con, make_config(), "bad", progress=False)
    assert snapshot(con) == before


def test_failure_mid_training_leaves_no_model_rows(con: duckdb.DuckDBPyConnection) -> None:
    train(con, make_config(), "kept", progress=False)
    before = snapshot(con)

    def interrupt(fraction: float, message: str) -> None:
        if "round 3/" in message:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(con, make_config(folds=THREE_FOLDS), "lost", progress=False, on_progress=interrupt)
    assert snapshot(con) == before
    assert [m["name"] for m in registry.list_models(con)] == ["kept"]


def test_failure_while_saving_rolls_everything_back(con: duckdb.DuckDBPyConnection) -> None:
    # A user table in the way makes the last insert of the save fail, inside the transaction.
    con.execute("CREATE TABLE model_predictions (x INTEGER)")
    before = snapshot(con)
    with pytest.raises(duckdb.Error):
        train(con, make_config(), "x", progress=False)
    assert snapshot(con) == before
    assert not db.table_exists(con, "models")


def test_check_config_accepts_cte_queries_and_trailing_semicolons(
    con: duckdb.DuckDBPyConnection,
) -> None:
    cte = (
        "WITH d AS (SELECT * FROM digits WHERE label < 5) "
        "SELECT id, pixels AS features, label FROM d;"
    )
    check_config(con, make_config(input_data=cte))
    cast = "SELECT id, CAST(pixels AS DOUBLE[]) AS features, label FROM digits -- comment"
    rows = load_rows(con, make_config(input_data=cast), "id < 10", "k")
    assert rows.pixels.dtype == np.uint8 and rows.pixels.shape == (10, 784)


def test_config_round_trips_through_dict_json_and_toml(tmp_path: Path) -> None:
    cfg = make_config(description="three folds", folds=THREE_FOLDS, preprocess={"deskew": True})
    again = ExperimentConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert cfg.spec.deskew and cfg.spec.bags == 2 and len(cfg.folds) == 3
    toml = tmp_path / "exp.toml"
    toml.write_text(
        'description = "x"\ninput_data = "' + WITH_ID + '"\n'
        "[[folds]]\ntraining_where = 'id % 2 = 0'\ntesting_where = 'id % 2 = 1'\n"
        "[algorithm]\nbags = 3\n[augment]\ncopies = 1\nmax_shift = 1\n"
    )
    loaded = ExperimentConfig.from_toml(toml)
    assert loaded.folds[0].testing_where == "id % 2 = 1"
    assert loaded.spec.bags == 3 and loaded.spec.augment.copies == 1
    toml.write_text("[algorithm]\nbags = 0\n")
    with pytest.raises(ConfigError, match="bags"):
        load_config(toml)
    toml.write_text("description = \n")
    with pytest.raises(ConfigError, match="TOML"):
        load_config(toml)
    with pytest.raises(ConfigError, match="no such"):
        load_config(tmp_path / "missing.toml")


def test_load_config_default() -> None:
    cfg = load_config(None)
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    assert "digits" in cfg.input_data
