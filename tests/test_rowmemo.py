"""The memo the SQL functions of one query share the trees' margins through."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from mlpaint import rowmemo
from mlpaint.rowmemo import RowMemo


class Counted:
    """A computation that counts its calls: what the memo should spare."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.calls = 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return np.repeat(self.rows.astype(np.float32).sum(axis=1, keepdims=True), 10, axis=1)


def test_the_same_rows_are_computed_once_and_shared_read_only() -> None:
    memo = RowMemo()
    rows = np.arange(784 * 5, dtype=np.uint8).reshape(5, 784)
    compute = Counted(rows)
    first = memo.get("scores", rows, compute)
    again = memo.get("scores", rows.copy(), compute)  # equal bytes, another array
    assert compute.calls == 1 and (memo.hits, memo.misses) == (1, 1)
    assert again is first and not first.flags.writeable
    with pytest.raises(ValueError):
        first[0, 0] = 1.0


def test_other_rows_or_another_kind_are_computed_again() -> None:
    memo = RowMemo()
    rows = np.zeros((3, 784), dtype=np.uint8)
    compute = Counted(rows)
    memo.get("scores", rows, compute)
    memo.get("bag_scores", rows, compute)
    changed = rows.copy()
    changed[2, 400] = 1
    memo.get("scores", changed, compute)
    memo.get("scores", rows[:2], compute)
    assert compute.calls == 4 and memo.hits == 0


def test_the_least_recently_used_entry_goes_past_the_budget() -> None:
    one = np.zeros((4, 10), dtype=np.float32).nbytes
    memo = RowMemo(budget=2 * one)
    slices = [np.full((4, 784), i, dtype=np.uint8) for i in range(3)]
    computes = [Counted(s) for s in slices]
    memo.get("scores", slices[0], computes[0])
    memo.get("scores", slices[1], computes[1])
    memo.get("scores", slices[0], computes[0])  # now the most recent
    memo.get("scores", slices[2], computes[2])  # evicts slice 1
    memo.get("scores", slices[0], computes[0])
    memo.get("scores", slices[1], computes[1])
    assert [c.calls for c in computes] == [1, 2, 1]


def test_batches_past_a_query_slice_are_not_kept() -> None:
    memo = RowMemo()
    rows = np.zeros((rowmemo.MAX_ROWS + 1, 784), dtype=np.uint8)
    compute = Counted(rows)
    memo.get("scores", rows, compute)
    memo.get("scores", rows, compute)
    assert compute.calls == 2 and memo.hits == 0


def test_a_pickled_copy_starts_empty() -> None:
    memo = RowMemo(budget=1000)
    rows = np.ones((2, 784), dtype=np.uint8)
    memo.get("scores", rows, Counted(rows))
    copy = pickle.loads(pickle.dumps(memo))
    compute = Counted(rows)
    copy.get("scores", rows, compute)
    assert compute.calls == 1 and copy.budget == 1000
