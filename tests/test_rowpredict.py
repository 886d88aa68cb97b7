"""RowPredictor: LightGBM's single-row fast path gives exactly Booster.predict's numbers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import lightgbm
import numpy as np
import pytest
from mnist_slice import load_slice

from mlpaint.rowpredict import RowPredictor

PARAMS = {"num_leaves": 15, "verbose": -1, "num_threads": 1, "seed": 3}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """1,000 training digits and their labels."""
    return load_slice(1000)


@pytest.fixture(scope="module")
def boosters(digits: tuple) -> dict[str, lightgbm.Booster]:
    """A 10-class booster and a binary one (as the verdict's detector is)."""
    x, y = digits
    multiclass = {**PARAMS, "objective": "multiclass", "num_class": 10}
    binary = {**PARAMS, "objective": "binary"}
    return {
        "multiclass": lightgbm.train(multiclass, lightgbm.Dataset(x, y), 5),
        "binary": lightgbm.train(binary, lightgbm.Dataset(x, (y == 7).astype(float)), 5),
    }


@pytest.mark.parametrize("objective", ["multiclass", "binary"])
def test_one_row_equals_predict_exactly(boosters: dict, objective: str) -> None:
    booster = boosters[objective]
    rows = load_slice(30, offset=60000)[0].astype(np.float32)
    raw, leaf = RowPredictor(booster, "raw"), RowPredictor(booster, "leaf")
    assert raw.width == (10 if objective == "multiclass" else 1)
    assert leaf.width == booster.num_trees()
    for row in rows:
        want_raw = booster.predict(row[None], raw_score=True).reshape(-1)
        want_leaf = booster.predict(row[None], pred_leaf=True).reshape(-1)
        np.testing.assert_array_equal(raw(row), want_raw)
        np.testing.assert_array_equal(leaf(row), want_leaf)
    # uint8 pixels are converted as Booster.predict converts them.
    np.testing.assert_array_equal(raw(rows[0].astype(np.uint8)), raw(rows[0]))


def test_threads_share_one_predictor(boosters: dict) -> None:
    booster = boosters["multiclass"]
    rows = load_slice(200, offset=60000)[0].astype(np.float32)
    predictor = RowPredictor(booster, "leaf")
    with ThreadPoolExecutor(4) as pool:
        got = np.stack(list(pool.map(predictor, rows)))
    np.testing.assert_array_equal(got, booster.predict(rows, pred_leaf=True))


def test_a_row_of_the_wrong_width_is_refused(boosters: dict) -> None:
    predictor = RowPredictor(boosters["binary"], "raw")
    with pytest.raises(ValueError, match="expected 784 features, got 783"):
        predictor(np.zeros(783, np.float32))
