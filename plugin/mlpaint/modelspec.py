"""The model's spec: every knob of the experiment's [algorithm], [preprocess] and [augment]."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from mlpaint.knobs import Bounds, check_knobs, table
from mlpaint.pixels import N_CLASSES
from mlpaint.preprocess import AugmentSpec

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
    # Gradient-based one-side sampling (LightGBM's data_sample_strategy "goss"): after the
    # first rounds each tree is grown on the rows with the largest gradients and a sample of the
    # rest, about half the time a round for the same accuracy (README, "The classifier").
    goss: bool = False
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
        params = {
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
        if self.goss:
            params["data_sample_strategy"] = "goss"
        return params
