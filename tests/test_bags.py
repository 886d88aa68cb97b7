"""The bag rule lives in sql/bags.sql: the same rows in SQL, in memory and in Python's md5."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pytest

from conftest import train_tiny
from mlpaint import registry
from mlpaint.bags import bag_mask, held_out_mask
from mlpaint.model import BaggedBoostedTrees, ModelSpec


def test_bag_hash_is_the_documented_md5(small_db: Path) -> None:
    con = duckdb.connect(str(small_db), read_only=True)
    try:
        rows = con.sql("SELECT id, bag_hash(id, 7, 2) FROM digits ORDER BY id LIMIT 50").fetchall()
    finally:
        con.close()
    for id_, value in rows:
        assert value == int.from_bytes(hashlib.md5(f"{id_}:7:2".encode()).digest()[:8], "big")


def test_in_memory_bags_are_the_sql_bags(small_db: Path) -> None:
    con = duckdb.connect(str(small_db), read_only=True)
    try:
        ids = np.array([r[0] for r in con.sql("SELECT id FROM digits ORDER BY id").fetchall()])
        in_sql = {
            r[0] for r in con.sql("SELECT id FROM digits WHERE in_bag(id, 3, 1, 0.4)").fetchall()
        }
    finally:
        con.close()
    mask = bag_mask(ids, 3, 1, 0.4)
    assert set(ids[mask].tolist()) == in_sql
    assert 0.35 < mask.mean() < 0.45  # about the fraction
    assert not np.array_equal(mask, bag_mask(ids, 3, 2, 0.4))  # each bag its own rows
    assert not np.array_equal(mask, bag_mask(ids, 4, 1, 0.4))  # each seed its own bags
    assert bag_mask(ids, 3, 1, 1.0).all()


def test_in_memory_held_out_rows_are_the_digits_test_view(small_db: Path) -> None:
    con = duckdb.connect(str(small_db), read_only=True)
    try:
        ids = np.array([r[0] for r in con.sql("SELECT id FROM digits ORDER BY id").fetchall()])
        in_sql = {r[0] for r in con.sql("SELECT id FROM digits_test").fetchall()}
    finally:
        con.close()
    mask = held_out_mask(ids)
    assert set(ids[mask].tolist()) == in_sql
    assert 0.15 < mask.mean() < 0.25  # fold 0 of 5
    md5 = [int.from_bytes(hashlib.md5(str(i).encode()).digest()[:8], "big") % 5 == 0 for i in ids]
    np.testing.assert_array_equal(mask, md5)  # the Python rule sql/folds.sql documents


def test_fit_in_memory_makes_the_model_train_makes(small_db: Path) -> None:
    config = {
        "input_data": "SELECT id, pixels AS features, label FROM digits",
        "algorithm": {"bags": 2, "bag_fraction": 0.5, "max_iter": 5, "num_leaves": 7, "seed": 5},
    }
    train_tiny(small_db, "sql", config)
    con = duckdb.connect(str(small_db), read_only=True)
    try:
        rows = con.sql(
            "SELECT id, pixels, label FROM digits WHERE NOT is_test_fold(id) ORDER BY id"
        ).fetchall()
        stored = registry.load_model(con, "sql").model
    finally:
        con.close()
    ids = np.array([r[0] for r in rows])
    pixels = np.array([r[1] for r in rows], dtype=np.uint8)
    labels = np.array([r[2] for r in rows])
    fitted = BaggedBoostedTrees.fit(pixels, labels, stored.spec, ids=ids)
    assert np.array_equal(fitted.scores(pixels), stored.scores(pixels))


def test_an_empty_bag_is_a_clear_error() -> None:
    spec = ModelSpec.from_dict({"bags": 1, "bag_fraction": 0.0001, "max_iter": 2})
    with pytest.raises(ValueError, match="bag 0 holds no rows"):
        BaggedBoostedTrees.fit(np.zeros((3, 784), np.uint8), np.array([0, 1, 2]), spec)
