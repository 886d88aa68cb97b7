"""The model registry on a real DuckDB file: versions, the active model, loading, read-only use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest

from mlpaint import db, registry
from mlpaint.experiment import ExperimentConfig
from mlpaint.registry import ModelNotFoundError
from mlpaint.training import train

TINY = {"bags": 2, "max_iter": 4, "num_leaves": 15, "num_threads": 1}
WITH_ID = "SELECT id, pixels AS features, label FROM digits"
LEGACY_DDL = Path(__file__).with_name("legacy_models.sql")


@pytest.fixture(scope="module")
def trained_db(tmp_path_factory: pytest.TempPathFactory, small_db_template: Path) -> Path:
    """A database holding models a v1, a v2 (another seed) and b v1, trained in that order."""
    path = tmp_path_factory.mktemp("registry") / "models.duckdb"
    path.write_bytes(small_db_template.read_bytes())
    con = db.connect(path)
    for name, seed in (("a", 1), ("a", 2), ("b", 3)):
        cfg = {"input_data": WITH_ID, "algorithm": {**TINY, "seed": seed}, "description": name}
        train(con, ExperimentConfig.from_dict(cfg), name, progress=False)
    con.close()
    return path


@pytest.fixture
def con(trained_db: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable connection to a copy of the trained database, so tests may re-activate."""
    path = tmp_path / "copy.duckdb"
    path.write_bytes(trained_db.read_bytes())
    connection = db.connect(path)
    yield connection
    connection.close()


def test_versions_count_per_name_and_newest_is_active(con: duckdb.DuckDBPyConnection) -> None:
    models = registry.list_models(con)
    assert [(m["name"], m["version"]) for m in models] == [("a", 1), ("a", 2), ("b", 1)]
    assert [m["active"] for m in models] == [False, False, True]
    assert registry.active_model_ref(con) == ("b", 1)
    assert all(0 < m["accuracy"] <= 1 and m["n_trees"] == 2 * 4 * 10 for m in models)
    assert all(m["size_bytes"] > 1000 for m in models)
    summary = con.execute("SELECT name, version, accuracy FROM models_summary").fetchall()
    assert summary == [(m["name"], m["version"], m["accuracy"]) for m in models]


def test_activate_pins_a_model_until_changed(con: duckdb.DuckDBPyConnection) -> None:
    assert registry.activate(con, "a") == ("a", 2)
    assert registry.active_model_ref(con) == ("a", 2)
    assert registry.activate(con, "a", 1) == ("a", 1)
    assert registry.load_model(con).version == 1
    assert [m["active"] for m in registry.list_models(con)] == [True, False, False]
    # Training another model does not move a pin.
    cfg = ExperimentConfig.from_dict({"input_data": WITH_ID, "algorithm": TINY})
    train(con, cfg, "c", progress=False)
    assert registry.active_model_ref(con) == ("a", 1)
    registry.unpin(con)
    assert registry.active_model_ref(con) == ("c", 1)
    assert con.execute("SELECT count(*) FROM pinned_model").fetchall() == [(0,)]


def test_unknown_models_raise(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ModelNotFoundError, match="nope"):
        registry.activate(con, "nope")
    with pytest.raises(ModelNotFoundError, match="a version 9"):
        registry.activate(con, "a", 9)
    with pytest.raises(ModelNotFoundError):
        registry.load_model(con, "a", 9)
    with pytest.raises(ModelNotFoundError):
        registry.get_model_info(con, "zzz")
    with pytest.raises(ValueError, match="name"):
        registry.load_model(con, None, 1)
    assert registry.active_model_ref(con) == ("b", 1)


def test_loaded_model_reproduces_the_stored_predictions(con: duckdb.DuckDBPyConnection) -> None:
    loaded = registry.load_model(con, "a", 1)
    assert (loaded.name, loaded.version) == ("a", 1)
    rows = con.execute(
        "SELECT d.pixels, p.probabilities FROM model_predictions p JOIN digits d USING (id) "
        "WHERE p.name = 'a' AND p.version = 1 ORDER BY id"
    ).fetchall()
    pixels = np.array([r[0] for r in rows], dtype=np.uint8)
    stored = np.array([r[1] for r in rows], dtype=np.float32)
    np.testing.assert_allclose(loaded.model.probabilities(pixels), stored, atol=1e-6)
    other = registry.load_model(con, "a", 2).model.probabilities(pixels)
    assert not np.allclose(other, stored)  # another seed, another model
    assert registry.load_model(con).name == "b"


def test_model_info_has_config_metrics_and_confusion(con: duckdb.DuckDBPyConnection) -> None:
    info = registry.get_model_info(con, "a")
    assert (info["name"], info["version"], info["active"]) == ("a", 2, False)
    config = ExperimentConfig.from_dict(info["config"])
    assert config.description == "a" and config.spec.seed == 2
    test_rows = info["row_counts"][0]["test"]
    assert info["n_predictions"] == test_rows
    confusion = np.array(info["confusion"])
    assert confusion.shape == (1, 10, 10) and confusion.sum() == test_rows
    assert confusion.tolist()[0] == info["metrics"]["folds"][0]["test"]["confusion"]
    accuracy = np.trace(confusion[0]) / test_rows
    assert info["metrics"]["test"]["accuracy"] == pytest.approx(accuracy)
    assert set(info["library_versions"]) >= {"lightgbm", "duckdb", "numpy", "python"}
    assert info["size_bytes"] > 0 and info["seconds"] > 0 and "model" not in info


def test_read_only_connection_reads_the_registry(trained_db: Path, connect_ro) -> None:
    ro = connect_ro(trained_db)
    assert [m["name"] for m in registry.list_models(ro)] == ["a", "a", "b"]
    assert registry.active_model_ref(ro) == ("b", 1)
    assert registry.load_model(ro, "a", 2).model.n_boosters == 2
    assert registry.get_model_info(ro, "b")["version"] == 1
    # Reads leave no half-fetched result behind that would block the next query.
    ro.sql("SELECT 1").fetchall()


def test_database_without_registry(small_db: Path, connect_ro) -> None:
    ro = connect_ro(small_db)
    assert registry.list_models(ro) == []
    assert registry.active_model_ref(ro) is None
    with pytest.raises(ModelNotFoundError, match="mlpaint train"):
        registry.load_model(ro)
    with pytest.raises(ModelNotFoundError):
        registry.load_model(ro, "a")
    with pytest.raises(ModelNotFoundError):
        registry.get_model_info(ro, "a")
    assert not db.table_exists(ro, "models")


@pytest.fixture
def legacy_db(tmp_path: Path, small_db_template: Path, trained_db: Path) -> Path:
    """The trained database's digits and models, in a registry made by the old schema."""
    path = tmp_path / "legacy.duckdb"
    path.write_bytes(small_db_template.read_bytes())
    source = duckdb.connect(str(trained_db), read_only=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(LEGACY_DDL.read_text(encoding="utf-8"))
        for table in ("models", "model_confusion", "model_predictions"):
            rows = source.sql(f"SELECT * FROM {table}").to_arrow_table()  # same column order
            con.register("rows_", rows)
            con.execute(f"INSERT INTO {table} SELECT * FROM rows_")
            con.unregister("rows_")
    finally:
        con.close()
        source.close()
    return path


def pin_the_old_way(path: Path, ref: tuple[str, int]) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("INSERT INTO active_model VALUES (?, ?)", list(ref))
    finally:
        con.close()


def name_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_name IN ('model_confusion', 'model_predictions') AND column_name IN "
        "('model', 'name') ORDER BY table_name"
    ).fetchall()


@pytest.mark.parametrize(("pin", "active"), [(None, ("b", 1)), (("a", 1), ("a", 1))])
def test_an_old_registry_reads_right_on_a_read_only_connection(
    legacy_db: Path, connect_ro, pin: tuple[str, int] | None, active: tuple[str, int]
) -> None:
    if pin:
        pin_the_old_way(legacy_db, pin)
    ro = connect_ro(legacy_db)
    assert registry.active_model_ref(ro) == active
    assert [(m["name"], m["version"]) for m in registry.list_models(ro) if m["active"]] == [active]
    info = registry.get_model_info(ro, "a", 1)
    test_rows = info["row_counts"][0]["test"]
    assert info["n_predictions"] == test_rows and np.array(info["confusion"]).sum() == test_rows
    assert registry.load_model(ro).name == active[0]
    assert name_columns(ro) == [("model_confusion", "model"), ("model_predictions", "model")]


def test_a_writable_connection_upgrades_an_old_registry_keeping_everything(
    legacy_db: Path,
) -> None:
    pin_the_old_way(legacy_db, ("a", 1))
    con = db.connect(legacy_db)
    try:
        counted = "SELECT (SELECT count(*) FROM model_confusion), (SELECT count(*) FROM models)"
        before = con.execute(counted).fetchall()
        assert registry.active_model_ref(con) == ("a", 1)  # the first read upgrades
        assert con.execute("SELECT * FROM pinned_model").fetchall() == [("a", 1)]
        assert con.execute("SELECT * FROM active_model").fetchall() == [("a", 1)]
        assert not db.table_exists(con, "serving_model")
        assert name_columns(con) == [("model_confusion", "name"), ("model_predictions", "name")]
        assert con.execute(counted).fetchall() == before
        info = registry.get_model_info(con, "a", 1)
        assert info["active"] and info["n_predictions"] == info["row_counts"][0]["test"]
        registry.ensure_registry(con)  # again: nothing is left to rename
        registry.unpin(con)
        assert registry.active_model_ref(con) == ("b", 1)
        assert registry.activate(con, "a") == ("a", 2)
        assert [m["active"] for m in registry.list_models(con)] == [False, True, False]
    finally:
        con.close()


def test_training_into_an_old_registry_upgrades_it(legacy_db: Path) -> None:
    pin_the_old_way(legacy_db, ("b", 1))
    con = db.connect(legacy_db)
    try:
        cfg = ExperimentConfig.from_dict({"input_data": WITH_ID, "algorithm": TINY})
        train(con, cfg, "c", progress=False)
        assert registry.active_model_ref(con) == ("b", 1)  # the pin survived the upgrade
        assert registry.get_model_info(con, "c")["n_predictions"] > 0
        assert name_columns(con) == [("model_confusion", "name"), ("model_predictions", "name")]
    finally:
        con.close()
