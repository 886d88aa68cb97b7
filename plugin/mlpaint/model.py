"""Bagged boosted trees: several LightGBM boosters on row samples, raw margins averaged."""

from __future__ import annotations

import json
import lzma
from collections.abc import Callable
from functools import cached_property

import lightgbm
import numpy as np

from mlpaint.bags import bag_mask, selects_rows
from mlpaint.knobs import bounds_relaxed
from mlpaint.merge import LeafTable, merge_boosters, split_by_class, tree_blocks
from mlpaint.modelspec import ModelSpec
from mlpaint.pixels import N_CLASSES, numpy_rows
from mlpaint.preprocess import augment, deskew
from mlpaint.progress import Progress
from mlpaint.rowmemo import RowMemo
from mlpaint.rowpredict import RowPredictor
from mlpaint.treewalk import TreeWalk

_MAGIC = b"MLPAINT-BBT1\n"
# Up to this many rows, ``margins`` reads each row's leaf indices once (``TreeWalk``, or
# LightGBM's single-row fast path) instead of predicting B + 1 times.
LEAF_PATH_ROWS = 64
__all__ = ["BaggedBoostedTrees", "ModelSpec", "softmax", "train_booster"]


def _rows_and_validation(
    n: int, spec: ModelSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices a bag trains on, split into (training, validation) for early stopping."""
    if spec.bag_replacement:
        rows = rng.choice(n, size=max(1, round(n * spec.bag_fraction)), replace=True)
    else:  # the bag's rows were chosen in SQL (mlpaint.bags); only their order is drawn here
        rows = rng.permutation(n)
    if spec.early_stopping <= 0:
        return rows, rows[:0]
    n_valid = max(1, round(len(rows) * spec.validation_fraction))
    return rows[n_valid:], rows[:n_valid]


def train_booster(
    pixels: np.ndarray,
    labels: np.ndarray,
    spec: ModelSpec,
    bag: int,
    tick: Callable[[], None] | None = None,
) -> lightgbm.Booster:
    """Train bag ``bag``'s booster on its rows (prepared); trimmed to its best iteration."""
    rng = np.random.default_rng([spec.seed, bag])
    train_rows, valid_rows = _rows_and_validation(len(labels), spec, rng)
    x, y = augment(
        pixels[train_rows], labels[train_rows], spec.augment, rng, workers=spec.num_threads
    )
    params = spec.lightgbm_params(bag)
    train_set = lightgbm.Dataset(x, label=y, params=params)

    def on_iteration(env: lightgbm.callback.CallbackEnv) -> None:
        if tick is not None:
            tick()

    on_iteration.order = 100  # type: ignore[attr-defined]  # after early stopping's check
    callbacks = [on_iteration]
    valid_sets = []
    if len(valid_rows):
        valid_sets = [train_set.create_valid(pixels[valid_rows], label=labels[valid_rows])]
        callbacks.append(lightgbm.early_stopping(spec.early_stopping, verbose=False))
    booster = lightgbm.train(
        params, train_set, num_boost_round=spec.max_iter, valid_sets=valid_sets, callbacks=callbacks
    )
    best = booster.best_iteration if booster.best_iteration > 0 else None
    # Reload so the booster holds exactly the kept trees and predicts with all of them.
    return lightgbm.Booster(model_str=booster.model_to_string(num_iteration=best))


def bag_of(
    pixels: np.ndarray, labels: np.ndarray, ids: np.ndarray, spec: ModelSpec, bag: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bag ``bag`` of in-memory rows, by the SQL rule training from a database uses."""
    if not selects_rows(spec.bag_fraction, spec.bag_replacement):
        return pixels, labels
    keep = bag_mask(ids, spec.seed, bag, spec.bag_fraction)
    if not keep.any():
        raise ValueError(f"bag {bag} holds no rows: raise algorithm.bag_fraction or add rows")
    return pixels[keep], labels[keep]


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities (float32) from raw scores, along the last axis."""
    s = np.asarray(scores, dtype=np.float64)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


class BaggedBoostedTrees:
    """An ensemble of LightGBM boosters whose raw margins are averaged."""

    def __init__(
        self, spec: ModelSpec, boosters: list[lightgbm.Booster], verdict: dict | None = None
    ) -> None:
        """Wrap trained boosters; builds the merged scoring booster once, up front.

        ``verdict`` is the digit / not-a-digit rule chosen at training time (``{"score": name,
        "threshold": x}``, see ``mlpaint.verdict``); None in a model trained before it existed.
        """
        if not boosters:
            raise ValueError("a model needs at least one booster")
        self.spec = spec
        self.boosters = boosters
        self.verdict = verdict
        # Mean of margins == margin of one booster holding every tree with leaves scaled by 1/B:
        # one predict call (and one TreeSHAP pass) instead of B.
        self.merged = merge_boosters(boosters)
        # The SQL functions of one query share the margins of each slice (mlpaint.rowmemo).
        self.row_memo = RowMemo()

    @classmethod
    def fit(
        cls,
        pixels: np.ndarray,
        labels: np.ndarray,
        spec: ModelSpec,
        *,
        ids: np.ndarray | None = None,
        progress: bool = False,
        on_round: Callable[[int, int], None] | None = None,
    ) -> BaggedBoostedTrees:
        """Train ``spec.bags`` boosters on (n,784) uint8 pixels and (n,) labels 0..9.

        ``ids`` (default 0..n-1) choose each bag's rows by the rule of ``sql/bags.sql``, so rows
        with the ids the database gives them make the model ``mlpaint train`` makes.
        """
        pixels, labels = _check_training_data(pixels, labels)
        ids = np.arange(len(labels)) if ids is None else np.asarray(ids)
        if spec.deskew:
            pixels = deskew(pixels)
        total = spec.bags * spec.max_iter
        with Progress(total, "training", "round", enabled=progress, on_update=on_round) as rounds:
            boosters = []
            for bag in range(spec.bags):
                x, y = bag_of(pixels, labels, ids, spec, bag)
                boosters.append(train_booster(x, y, spec, bag, rounds.update))
                # A bag that stopped early still counts all its rounds, so the total is reached.
                rounds.advance_to((bag + 1) * spec.max_iter)
        return cls(spec, boosters)

    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        """What the boosters see: (n,784) uint8, deskewed if the spec says so."""
        arr = numpy_rows(pixels)[0].astype(np.uint8, copy=False)
        return deskew(arr) if self.spec.deskew else arr

    def _rows(self, pixels: np.ndarray, prepared: bool) -> np.ndarray:
        """(n, 784) rows as the boosters see them: prepared here unless ``prepared``."""
        x = np.asarray(pixels) if prepared else self.prepare(pixels)
        return x[None, :] if x.ndim == 1 else x

    def float_rows(self, pixels: np.ndarray, *, prepared: bool = False) -> np.ndarray:
        """(n, 784) float32 C-contiguous rows as the boosters read them (what TreeSHAP reads)."""
        return _as_float32(self._rows(pixels, prepared))

    def scores(self, pixels: np.ndarray, *, prepared: bool = False) -> np.ndarray:
        """(n,10) float32: the mean over boosters of the raw margins."""
        x = self._rows(pixels, prepared)
        if len(x) == 0:
            return np.zeros((0, N_CLASSES), np.float32)
        return self.row_memo.get("scores", x, lambda: _raw_margins(self.merged, x, self.spec))

    def probabilities(self, pixels: np.ndarray, *, prepared: bool = False) -> np.ndarray:
        """(n,10) float32 softmax of the scores."""
        return softmax(self.scores(pixels, prepared=prepared))

    def bag_scores(self, pixels: np.ndarray, *, prepared: bool = False) -> np.ndarray:
        """(n, bags, 10) float32: each booster's own raw margins (their mean is ``scores``)."""
        x = self._rows(pixels, prepared)
        if len(x) == 0:
            return np.zeros((0, self.n_boosters, N_CLASSES), np.float32)
        if self.n_boosters == 1:  # the merged booster is the one booster: predict once
            return self.scores(x, prepared=True)[:, None, :]
        return self.row_memo.get(
            "bag_scores",
            x,
            lambda: np.stack([_raw_margins(b, x, self.spec) for b in self.boosters], axis=1),
        )

    def margins(
        self, pixels: np.ndarray, *, prepared: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """``scores`` and ``bag_scores`` of the same rows, from one traversal of the trees."""
        x = self._rows(pixels, prepared)
        if not 0 < len(x) <= LEAF_PATH_ROWS:
            scores = self.scores(x, prepared=True)
            one = self.n_boosters == 1  # the merged booster is the one booster: predict once
            return scores, scores[:, None, :] if one else self.bag_scores(x, prepared=True)
        table, walk = self._row_path
        if walk is not None and x.dtype == np.uint8:
            leaves = np.stack([walk.leaves(row) for row in x])
        else:
            leaves = np.stack([self._leaves_of_row(row) for row in _as_float32(x)])
        merged, bags = table.margins(leaves.astype(np.intp, copy=False))
        return merged.astype(np.float32), bags.astype(np.float32)

    def warm(self) -> None:
        """Build now what a model's first answers would build: a server's first requests wait."""
        _ = self._row_path, self._leaves_of_row, self.class_boosters

    @cached_property
    def _row_path(self) -> tuple[LeafTable, TreeWalk | None]:
        """The leaf values of every tree, and the NumPy walk of the trees for pixels."""
        bags = [tree_blocks(booster) for booster in self.boosters]
        return LeafTable(bags, N_CLASSES), TreeWalk.of([tree for bag in bags for tree in bag])

    @cached_property
    def _leaves_of_row(self) -> RowPredictor:
        return RowPredictor(self.merged, "leaf")

    @cached_property
    def class_boosters(self) -> list[lightgbm.Booster]:
        """The merged booster split by digit: explaining one digit walks only its trees."""
        return split_by_class(self.merged, N_CLASSES)

    def bag_probabilities(self, pixels: np.ndarray, *, prepared: bool = False) -> np.ndarray:
        """(n, bags, 10) float32: the softmax of each booster's raw margins."""
        return softmax(self.bag_scores(pixels, prepared=prepared))

    def predict(self, pixels: np.ndarray, *, prepared: bool = False) -> np.ndarray:
        """(n,) uint8: the digit with the highest score."""
        return self.scores(pixels, prepared=prepared).argmax(axis=1).astype(np.uint8)

    @property
    def n_trees(self) -> int:
        """Total number of trees over all boosters."""
        return sum(b.num_trees() for b in self.boosters)

    @property
    def n_boosters(self) -> int:
        """Number of boosters (bags)."""
        return len(self.boosters)

    def to_bytes(self) -> bytes:
        """One self-contained, compressed blob: the spec and every booster."""
        payload = {
            "spec": self.spec.to_dict(),
            "boosters": [b.model_to_string() for b in self.boosters],
        }
        if self.verdict is not None:  # absent in older blobs
            payload["verdict"] = self.verdict
        body = json.dumps(payload, separators=(",", ":")).encode()
        return _MAGIC + lzma.compress(body, preset=6)

    @classmethod
    def from_bytes(cls, data: bytes) -> BaggedBoostedTrees:
        """Load a blob written by ``to_bytes``."""
        if not data.startswith(_MAGIC):
            raise ValueError("not an mlpaint bagged boosted trees model blob")
        try:
            payload = json.loads(lzma.decompress(data[len(_MAGIC) :]))
        except (lzma.LZMAError, ValueError) as exc:
            raise ValueError(f"corrupt model blob: {exc}") from exc
        with bounds_relaxed():  # the bounds guard training; older models may lie outside them
            spec = ModelSpec.from_dict(**payload["spec"])
        boosters = [lightgbm.Booster(model_str=s) for s in payload["boosters"]]
        return cls(spec, boosters, payload.get("verdict"))


def _check_training_data(pixels: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and label range; returns (uint8 pixels, int32 labels)."""
    x, _ = numpy_rows(pixels, single=False)
    y = np.asarray(labels)
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"expected (n,784) pixels and (n,) labels, got {x.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= N_CLASSES:
        raise ValueError("labels must be digits 0..9")
    return x.astype(np.uint8, copy=False), y.astype(np.int32)


def _raw_margins(booster: lightgbm.Booster, x: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """(n, 10) float32 raw margins of one booster on prepared rows."""
    # One row gains nothing from threads; many rows (batches from SQL) use the spec's.
    threads = 1 if len(x) == 1 else spec.num_threads
    raw = booster.predict(_as_float32(x), raw_score=True, num_threads=threads)
    return np.asarray(raw, dtype=np.float32).reshape(len(x), N_CLASSES)


def _as_float32(x: np.ndarray) -> np.ndarray:
    """C-contiguous float32: what LightGBM reads without another conversion."""
    return np.ascontiguousarray(x, dtype=np.float32)
