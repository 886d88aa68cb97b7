"""TreeWalk: every tree's leaf for a row of pixels, exactly LightGBM's ``pred_leaf``."""

from __future__ import annotations

import lightgbm
import numpy as np
import pytest
from mnist_slice import load_slice

from mlpaint.merge import tree_blocks
from mlpaint.model import BaggedBoostedTrees, ModelSpec
from mlpaint.treewalk import TreeWalk

PARAMS = {"objective": "multiclass", "num_class": 10, "verbose": -1, "num_threads": 1}


def _trained(x: np.ndarray, y: np.ndarray, rounds: int, **params: object) -> lightgbm.Booster:
    merged = {**PARAMS, **params}
    return lightgbm.train(merged, lightgbm.Dataset(x, y, params=merged), rounds)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """1,500 training digits and their labels."""
    return load_slice(1500)


@pytest.fixture(scope="module")
def test_rows() -> np.ndarray:
    """200 test digits, and the same with every pixel at 0 and at 255 (past every threshold)."""
    rows = load_slice(200, offset=60000)[0]
    return np.concatenate([rows, np.zeros((1, 784), np.uint8), np.full((1, 784), 255, np.uint8)])


def _walk(booster: lightgbm.Booster) -> TreeWalk | None:
    return TreeWalk.of(tree_blocks(booster))


@pytest.mark.parametrize(
    "params",
    [
        {"num_leaves": 31},
        {"num_leaves": 63, "max_depth": 9, "feature_fraction": 0.15, "seed": 2},
        {"num_leaves": 7, "max_bin": 15},  # coarse bins: thresholds far apart
    ],
)
def test_leaves_equal_lightgbm_exactly(digits: tuple, test_rows: np.ndarray, params: dict) -> None:
    booster = _trained(*digits, 6, **params)
    walk = _walk(booster)
    assert walk is not None
    want = booster.predict(test_rows.astype(np.float32), pred_leaf=True)
    got = np.stack([walk.leaves(row) for row in test_rows])
    np.testing.assert_array_equal(got, want)
    assert walk.depth == max(_depth(t["tree_structure"]) for t in booster.dump_model()["tree_info"])


def _depth(node: dict) -> int:
    if "split_index" not in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def test_trees_of_one_leaf_are_walked(digits: tuple, test_rows: np.ndarray) -> None:
    x, y = digits
    # Only a 0 and a 1 to tell apart: the other eight classes' trees cannot split.
    pick = y < 2
    booster = _trained(x[pick], y[pick], 4, num_leaves=15, min_data_in_leaf=5)
    counts = [t["num_leaves"] for t in booster.dump_model()["tree_info"]]
    assert 1 in counts and max(counts) > 1
    walk = _walk(booster)
    assert walk is not None
    want = booster.predict(test_rows.astype(np.float32), pred_leaf=True)
    np.testing.assert_array_equal(np.stack([walk.leaves(row) for row in test_rows]), want)


def test_splits_with_a_missing_value_rule_are_left_to_lightgbm(
    digits: tuple, test_rows: np.ndarray
) -> None:
    x, y = digits
    holes = x.astype(np.float64)
    holes[::3, 300:500] = np.nan  # NaN in training gives splits a NaN rule
    booster = _trained(holes, y, 3, num_leaves=15)
    assert _walk(booster) is None
    # A model of such boosters still answers, exactly, by LightGBM's own walk.
    model = BaggedBoostedTrees(ModelSpec(bags=1), [booster])
    served, bags = model.margins(test_rows[:5], prepared=True)
    np.testing.assert_array_equal(served, model.scores(test_rows[:5], prepared=True))
    np.testing.assert_array_equal(bags[:, 0], served)


def test_only_pixels_are_walked(digits: tuple) -> None:
    walk = _walk(_trained(*digits, 2, num_leaves=7))
    assert walk is not None
    with pytest.raises(TypeError, match="uint8"):
        walk.leaves(np.zeros(784, np.float32))
