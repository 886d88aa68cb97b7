"""Merging bagged LightGBM boosters into one booster that scores (and explains) their mean,
and splitting that booster by class, so one class is explained without the others' trees."""

from __future__ import annotations

import re

import lightgbm
import numpy as np


def _scale_values(block: str, scale: float) -> str:
    """Multiply a tree block's leaf and internal values by ``scale``."""
    out = []
    for line in block.split("\n"):
        key, sep, values = line.partition("=")
        if sep and key in ("leaf_value", "internal_value"):
            scaled = np.array(values.split(), dtype=np.float64) * scale
            line = f"{key}=" + " ".join(repr(v) for v in scaled.tolist())
        out.append(line)
    return "\n".join(out)


def merge_boosters(boosters: list[lightgbm.Booster]) -> lightgbm.Booster:
    """One booster whose raw margin is the mean of the boosters' raw margins.

    Trees are concatenated (each booster holds whole rounds, so tree i still scores class i % 10)
    and every leaf is scaled by 1/B. TreeSHAP is additive over trees, so its explanation is the
    mean of the boosters' explanations too.
    """
    scale = 1.0 / len(boosters)
    texts = [_model_text(booster) for booster in boosters]
    blocks = [_scale_values(tree, scale) for _, trees in texts for tree in trees]
    return _booster(texts[0][0], blocks)


def split_by_class(booster: lightgbm.Booster, n_classes: int) -> list[lightgbm.Booster]:
    """One single-output booster per class, holding that class's trees of ``booster`` in order.

    Tree i of a multiclass booster scores class i % n_classes, so a class's trees alone give its
    raw margin and its TreeSHAP values: exactly, the same trees summed in the same order, for
    1/n_classes of the work of explaining every class.
    """
    head, trees = _model_text(booster)
    for key, value in (("num_class", 1), ("num_tree_per_iteration", 1)):
        head = re.sub(rf"^{key}=\d+$", f"{key}={value}", head, flags=re.M)
    head = re.sub(r"^objective=.*$", "objective=regression", head, flags=re.M)
    return [_booster(head, trees[c::n_classes]) for c in range(n_classes)]


def _booster(head: str, blocks: list[str]) -> lightgbm.Booster:
    """A booster from a model text header and tree blocks (without their ``Tree=i`` lines)."""
    # tree_sizes describes the header's own trees; without it LightGBM parses the trees one
    # after another.
    header = "\n".join(line for line in head.split("\n") if not line.startswith("tree_sizes="))
    parts = [header.rstrip("\n") + "\n\n"]
    parts += [f"Tree={i}\n{block}" for i, block in enumerate(blocks)]
    parts.append("end of trees\n")
    return lightgbm.Booster(model_str="".join(parts))


def _model_text(booster: lightgbm.Booster) -> tuple[str, list[str]]:
    """A booster's model text: its header and each tree's block (without its ``Tree=i`` line)."""
    head, _, rest = booster.model_to_string().partition("\nTree=")
    trees = rest.split("end of trees", 1)[0]
    return head, [b.split("\n", 1)[1] for b in ("Tree=" + trees).split("Tree=")[1:]]


def tree_blocks(booster: lightgbm.Booster) -> list[str]:
    """Each tree's block of a booster's model text, in tree order (without its ``Tree=i`` line)."""
    return _model_text(booster)[1]


def _leaf_values(blocks: list[str]) -> list[np.ndarray]:
    """Each tree's leaf values, in tree order, as LightGBM reads them from the model text."""
    values = []
    for block in blocks:
        line = next(x for x in block.split("\n") if x.startswith("leaf_value="))
        values.append(np.array(line.partition("=")[2].split(), dtype=np.float64))
    return values


class LeafTable:
    """Every leaf of the bags' trees, so one pass of ``pred_leaf`` gives every margin.

    The served margins (the merged booster's) and each bag's come out of one traversal of the
    trees instead of one per bag and one more for the merged booster. The sums run tree by tree
    in LightGBM's own order, so they equal its predictions exactly.
    """

    def __init__(self, bags: list[list[str]], n_classes: int) -> None:
        """Read the leaf values of each bag's ``tree_blocks`` (the boosters merged, in order)."""
        per_bag = [_leaf_values(blocks) for blocks in bags]
        trees = [tree for bag in per_bag for tree in bag]
        self.n_classes = n_classes
        self.bag_ends = np.cumsum([len(bag) for bag in per_bag])
        self.starts = np.cumsum([0] + [len(tree) for tree in trees[:-1]])
        self.values = np.concatenate(trees)
        self.scale = 1.0 / len(bags)

    def margins(self, leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, classes) merged and (n, bags, classes) per-bag margins of (n, trees) leaf indices."""
        values = self.values[self.starts + np.asarray(leaves)]
        # The merged booster's leaves are exactly these values times 1/B (``merge_boosters``).
        merged = self._by_class(values * self.scale)
        bags = [self._by_class(part) for part in np.split(values, self.bag_ends[:-1], 1)]
        return merged, np.stack(bags, axis=1)

    def _by_class(self, values: np.ndarray) -> np.ndarray:
        """Sum (n, trees) leaf values per class; tree i scores class i % classes."""
        n = len(values)
        # A sum over the middle axis adds round after round, as LightGBM does.
        return values.reshape(n, -1, self.n_classes).sum(axis=1)
