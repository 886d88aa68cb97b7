"""Bagged boosted trees: several LightGBM boosters on row samples, raw margins averaged."""

from __future__ import annotations

import json
import lzma
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import lightgbm
import numpy as np

from mlpaint.bags import bag_mask, selects_rows
from mlpaint.knobs import Bounds, bounds_relaxed, check_knobs, table
from mlpaint.merge import merge_boosters
from mlpaint.pixels import N_CLASSES, numpy_rows
from mlpaint.preprocess import AugmentSpec, augment, deskew
from mlpaint.progress import Progress

_MAGIC = b"MLPAINT-BBT1\n"
MAX_ROUNDS = 5000
# Every numeric knob is bounded both ways (floats must be finite too), far past useful settings:
# a typo (max_iter = 1e9, learning_rate = 1e308) fails here, not after days or as a NaN model.
_BOUNDS: dict[str, Bounds] = {
    "bags": Bounds(1, 64),
    "bag_fraction": Bounds(0.0, 1.0, open_low=True),
    "max_iter": Bounds(1, MAX_ROUNDS),
    "learning_rate": Bounds(0.0, 1.0, open_low=True),
    "max_depth": Bounds(1, 64, also=-1),  # -1 = no depth limit (num_leaves still bounds a tree)
    "num_leaves": Bounds(2, 4096),
    "feature_fraction": Bounds(0.0, 1.0, open_low=True),
    "min_data_in_leaf": Bounds(1, 100_000),
    "lambda_l2": Bounds(0.0, 1e6),
    "max_bin": Bounds(2, 255),
    "early_stopping": Bounds(0, MAX_ROUNDS),
    "validation_fraction": Bounds(0.0, 0.5, open_low=True),
    "seed": Bounds(0, 2**31 - 1),
    "num_threads": Bounds(1, 256),
}
_SECTION_OF = {"deskew": "preprocess"}  # the TOML table of a field not in [algorithm]


@dataclass(frozen=True)
class ModelSpec:
    """Everything about the model that lives in the experiment TOML."""

    bags: int = 5
    bag_fraction: float = 0.5  # rows each bag samples
    bag_replacement: bool = False
    max_iter: int = 30  # boosting rounds per booster (upper bound with early stopping)
    learning_rate: float = 0.3
    max_depth: int = 7
    num_leaves: int = 127
    feature_fraction: float = 0.3  # MLDB's random_feature_propn, drawn per tree
    min_data_in_leaf: int = 20
    # L2 penalty on leaf values. Without it a leaf of rows the softmax is sure and wrong about
    # (tiny hessians) gets a value in the thousands and the booster diverges: the augmentation
    # "collapse" (README, "The classifier").
    lambda_l2: float = 0.0
    max_bin: int = 255  # histogram bins per pixel; fewer train faster
    early_stopping: int = 0  # 0 = off; else rounds without improvement on a validation
    validation_fraction: float = 0.1  # slice taken from each bag's training rows only
    seed: int = 0
    num_threads: int = 2
    deskew: bool = False  # moment-based deskewing, applied in training and scoring
    augment: AugmentSpec = field(default_factory=AugmentSpec)

    def __post_init__(self) -> None:
        """Check types and ranges so a bad config fails before training starts."""
        check_knobs(self, _BOUNDS, "algorithm", _SECTION_OF)

    @classmethod
    def from_dict(
        cls, algorithm: dict, preprocess: dict | None = None, augment: dict | None = None
    ) -> ModelSpec:
        """Build from the TOML tables [algorithm], [preprocess], [augment]."""
        names = {f.name for f in fields(cls)} - {"deskew", "augment"}
        kwargs = table("algorithm", algorithm, names)
        # None means absent; any other non-table (an empty list too) is refused by table().
        kwargs.update(table("preprocess", {} if preprocess is None else preprocess, {"deskew"}))
        aug_keys = {f.name for f in fields(AugmentSpec)}
        aug = table("augment", {} if augment is None else augment, aug_keys)
        return cls(**kwargs, augment=AugmentSpec(**aug))

    def to_dict(self) -> dict:
        """JSON-able sections that round-trip through ``from_dict(**sections)``."""
        algorithm = {f.name: getattr(self, f.name) for f in fields(self)}
        deskew_on = algorithm.pop("deskew")
        aug = algorithm.pop("augment")
        return {
            "algorithm": algorithm,
            "preprocess": {"deskew": deskew_on},
            "augment": {f.name: getattr(aug, f.name) for f in fields(aug)},
        }

    def lightgbm_params(self, bag: int) -> dict:
        """LightGBM parameters for one bag's booster (deterministic, fixed threads)."""
        return {
            "objective": "multiclass",
            "num_class": N_CLASSES,
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "num_leaves": self.num_leaves,
            "feature_fraction": self.feature_fraction,
            "min_data_in_leaf": self.min_data_in_leaf,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "num_threads": self.num_threads,
            "seed": self.seed * 1000 + bag,
            "deterministic": True,
            # LightGBM would pick row- or column-wise histograms by timing: not repeatable.
            # Column-wise builds histograms only for the features sampled for the tree.
            "force_col_wise": True,
            "verbosity": -1,
        }


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
    x, y = augment(pixels[train_rows], labels[train_rows], spec.augment, rng)
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

    def scores(self, pixels: np.ndarray, *, prepared: bool = False) -> np.ndarray:
        """(n,10) float32: the mean over boosters of the raw margins."""
        x = np.asarray(pixels) if prepared else self.prepare(pixels)
        if x.ndim == 1:
            x = x[None, :]
        if len(x) == 0:
            return np.zeros((0, N_CLASSES), np.float32)
        # One row gains nothing from threads; many rows (batches from SQL) use the spec's.
        threads = 1 if len(x) == 1 else self.spec.num_threads
        raw = self.merged.predict(_as_float32(x), raw_score=True, num_threads=threads)
        return np.asarray(raw, dtype=np.float32).reshape(len(x), N_CLASSES)

    def probabilities(self, pixels: np.ndarray, *, prepared: bool = False) -> np.ndarray:
        """(n,10) float32 softmax of the scores."""
        return softmax(self.scores(pixels, prepared=prepared))

    def bag_scores(self, pixels: np.ndarray, *, prepared: bool = False) -> np.ndarray:
        """(n, bags, 10) float32: each booster's own raw margins (their mean is ``scores``)."""
        x = np.asarray(pixels) if prepared else self.prepare(pixels)
        if x.ndim == 1:
            x = x[None, :]
        if len(x) == 0:
            return np.zeros((0, self.n_boosters, N_CLASSES), np.float32)
        if self.n_boosters == 1:  # the merged booster is the one booster: predict once
            return self.scores(x, prepared=True)[:, None, :]
        threads = 1 if len(x) == 1 else self.spec.num_threads
        rows = _as_float32(x)
        raw = [b.predict(rows, raw_score=True, num_threads=threads) for b in self.boosters]
        return np.stack([np.asarray(r, np.float32).reshape(len(x), N_CLASSES) for r in raw], 1)

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


def _as_float32(x: np.ndarray) -> np.ndarray:
    """C-contiguous float32: what LightGBM reads without another conversion."""
    return np.ascontiguousarray(x, dtype=np.float32)
