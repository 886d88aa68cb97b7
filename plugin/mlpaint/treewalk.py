"""Every tree's leaf for one row of whole-number pixels, walked for all trees at once in NumPy.

A scorer request walks one row down every tree of the served model. LightGBM's single-row fast
path (``mlpaint.rowpredict``) walks the trees one after another, node by node, through five
arrays per tree. Here every node of every tree is one 64-bit word in one array (its split
pixel, its threshold and where its children sit, side by side), so one level of all the trees
is a handful of NumPy operations. On the 5,400-tree default it takes about 0.22 ms a row,
against LightGBM's 0.53 ms (``bench/serve.py`` prints the answer's cost).

The leaves are exactly LightGBM's. Pixels are whole numbers 0..255, so LightGBM's
``pixel <= threshold`` is ``pixel <= floor(threshold)``, compared in integers. Only splits
LightGBM makes on such data are walked here: numerical ``<=`` with no missing-value rule, on
trees without linear leaves. A model with any other split is left to LightGBM (``of`` returns
None).
"""

from __future__ import annotations

import numpy as np

_CHILD_BITS, _FEATURE_BITS = 32, 12  # a word: first child's slot | feature | threshold + 1
_FEATURE_SHIFT = _CHILD_BITS
_LIMIT_SHIFT = _CHILD_BITS + _FEATURE_BITS
_CHILD_MASK = (1 << _CHILD_BITS) - 1
_FEATURE_MASK = (1 << _FEATURE_BITS) - 1
_NEVER = 256  # a leaf's limit: no pixel reaches it, so the walk stays on the leaf
_DEFAULT_LEFT = 2  # decision_type bit LightGBM sets on numerical splits; others are refused


def _fields(block: str) -> dict[str, str]:
    """A tree block's ``key=value`` lines."""
    return dict(line.partition("=")[::2] for line in block.split("\n") if "=" in line)


def _numbers(trees: list[dict[str, str]], key: str, dtype: type) -> np.ndarray:
    """One field of every tree, concatenated in tree order."""
    return np.array(" ".join(tree.get(key, "") for tree in trees).split(), dtype=dtype)


class TreeWalk:
    """The leaf index of every tree for a (784,) uint8 row: ``booster.predict(pred_leaf=True)``.

    Each tree is laid out so that a node's two children sit side by side: the walk moves to
    ``first child + (pixel > threshold)``. Leaves point to themselves, so after as many steps as
    the deepest tree every walk rests on its leaf.
    """

    def __init__(self, words: np.ndarray, leaf_of: np.ndarray, roots: np.ndarray, depth: int):
        """Use ``TreeWalk.of`` to build one from LightGBM's tree blocks."""
        self.words, self.leaf_of, self.roots, self.depth = words, leaf_of, roots, depth

    @classmethod
    def of(cls, blocks: list[str]) -> TreeWalk | None:
        """The walk of these tree blocks (model text, in tree order); None if not walkable."""
        trees = [_fields(block) for block in blocks]
        if any(t.get("num_cat", "0") != "0" or t.get("is_linear", "0") != "0" for t in trees):
            return None
        n_leaves = np.array([int(t["num_leaves"]) for t in trees], dtype=np.int64)
        decisions = _numbers(trees, "decision_type", np.int64)
        features = _numbers(trees, "split_feature", np.int64)
        if np.any(decisions & ~_DEFAULT_LEFT) or np.any(features > _FEATURE_MASK):
            return None
        thresholds = _numbers(trees, "threshold", np.float64)
        left = _numbers(trees, "left_child", np.int64)
        right = _numbers(trees, "right_child", np.int64)
        return cls._laid_out(n_leaves, features, thresholds, left, right)

    @classmethod
    def _laid_out(
        cls,
        n_leaves: np.ndarray,
        features: np.ndarray,
        thresholds: np.ndarray,
        left: np.ndarray,
        right: np.ndarray,
    ) -> TreeWalk:
        """Slot 0 of a tree holds its root; internal node i's children fill slots 2i+1, 2i+2."""
        n_inner = n_leaves - 1
        slot_start = np.concatenate([[0], np.cumsum(2 * n_leaves - 1)[:-1]])
        inner_start = np.concatenate([[0], np.cumsum(n_inner)[:-1]])
        leaf_start = np.concatenate([[0], np.cumsum(n_leaves)[:-1]])
        tree = np.repeat(np.arange(len(n_leaves)), n_inner)  # the tree of each internal node
        local = np.arange(len(tree)) - inner_start[tree]  # its index within its tree
        first_child = slot_start[tree] + 2 * local + 1
        # Where each node sits: a root at its tree's first slot, any other node in its parent's
        # pair of slots (left child first).
        inner_slot = slot_start[tree].copy()  # roots; the others are overwritten below
        leaf_slot = slot_start.repeat(n_leaves)  # one-leaf trees keep their root slot
        for child, offset in ((left, 0), (right, 1)):
            inner = child >= 0
            inner_slot[inner_start[tree[inner]] + child[inner]] = first_child[inner] + offset
            leaf = ~inner
            leaf_slot[leaf_start[tree[leaf]] + ~child[leaf]] = first_child[leaf] + offset
        limit = np.clip(np.floor(thresholds), -1, 255).astype(np.int64) + 1
        words = np.empty(int((2 * n_leaves - 1).sum()), dtype=np.int64)
        words[inner_slot] = first_child | (features << _FEATURE_SHIFT) | (limit << _LIMIT_SHIFT)
        words[leaf_slot] = leaf_slot | (_NEVER << _LIMIT_SHIFT)
        leaf_of = np.zeros(len(words), dtype=np.intp)
        leaf_of[leaf_slot] = np.arange(len(leaf_slot)) - leaf_start.repeat(n_leaves)
        depth = _depth(words, slot_start)
        return cls(words, leaf_of, slot_start, depth)

    def leaves(self, row: np.ndarray) -> np.ndarray:
        """(trees,) intp: the leaf each tree sends this (784,) uint8 row to."""
        if row.dtype != np.uint8:
            raise TypeError(f"TreeWalk walks uint8 pixels, not {row.dtype}")
        pixels = row.astype(np.int64)
        slots = self.roots
        for _ in range(self.depth):
            words = self.words.take(slots)
            feature = (words >> _FEATURE_SHIFT) & _FEATURE_MASK
            right = pixels.take(feature) >= (words >> _LIMIT_SHIFT)
            slots = (words & _CHILD_MASK) + right
        return self.leaf_of.take(slots)


def _depth(words: np.ndarray, roots: np.ndarray) -> int:
    """Steps from the roots until every walk rests on a leaf: the deepest tree's depth."""
    depth, slots = 0, roots
    while True:
        inner = slots[words[slots] & _CHILD_MASK != slots]  # a leaf's word points to itself
        if len(inner) == 0:
            return depth
        first = words[inner] & _CHILD_MASK
        slots, depth = np.concatenate([first, first + 1]), depth + 1
