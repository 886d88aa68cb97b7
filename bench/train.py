"""Train the shipped experiment configs on full MNIST, each on its split, and print the numbers.

    python bench/train.py [--configs A.toml B.toml] [--frontier [--candidates NAME ...]
        [--seeds N ...]] [--quick] [--no-baselines]

A config trains on the hash folds, or on MNIST's own split when its folds are ``OFFICIAL_FOLD``
(experiments/official.toml), so the default's two figures print side by side.

Per config: top-1, MLDB weighted test accuracy, log loss, Brier score, training wall and CPU
seconds, trees, model bytes, single-row predict and explain latency, explain rows/s; then the same
for a plain single LightGBM booster with as many trees and for k-NN (k=4). --frontier also trains
the candidate grid below on MNIST's own split and prints the accuracy / time / explain-cost table
that default.toml was chosen from (--candidates picks some of it), then each candidate paired with
default.toml on the same test digits: the digits only one of them reads right, the sign test on
those, and 95% bootstrap intervals of the differences. --seeds trains each candidate once per
seed (the seed of the bags' rows, distortions and feature sampling) and adds each candidate's
pairing over all the seeds, with the test digits as the unit.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import lightgbm
import numpy as np

from mlpaint.bags import held_out_mask
from mlpaint.experiment import DEFAULT_FOLD, OFFICIAL_FOLD, ExperimentConfig
from mlpaint.explain import explain, explain_with_shap
from mlpaint.knobs import bounds_relaxed
from mlpaint.metrics import (
    brier_score,
    confusion_matrix,
    log_loss,
    mldb_weighted_accuracy,
    paired_comparison,
)
from mlpaint.model import BaggedBoostedTrees, ModelSpec, softmax
from mlpaint.preprocess import AugmentSpec
from mlpaint.resources import resource_dir
from mlpaint.sources import read_vendored

# Candidates measured for default.toml, as overrides of its spec (a function of it, or a dict).
# The trees of the defaults before 2026-12-06: 31 leaves on 30% of the pixels, every row a round.
PREVIOUS_TREES = {"num_leaves": 31, "max_depth": 8, "feature_fraction": 0.3, "goss": False}
# The default before 2026-12-06: each bag one distorted copy of the rows, 100 rounds.
PREVIOUS_DEFAULT = {
    "max_iter": 100,
    **PREVIOUS_TREES,
    "augment": AugmentSpec(
        copies=1,
        max_shift=1,
        rotate=8,
        scale=0.1,
        elastic=24,
        lowres=0.15,
        thicken=0.1,
        thin=0.1,
        blur=0.1,
    ),
}


def _bags_rows(spec: ModelSpec) -> dict:
    """One booster as long as a bag, on as many rows as all the bags: the same training work."""
    copies = spec.bags * (spec.augment.copies + 1) - 1
    with bounds_relaxed():  # more copies than a config may ask for (augment.copies <= 10)
        return {"bags": 1, "augment": replace(spec.augment, copies=copies)}


FRONTIER: dict[str, Callable[[ModelSpec], dict] | dict] = {
    "default.toml": {},
    "one booster, same trees": lambda spec: {"bags": 1, "max_iter": spec.bags * spec.max_iter},
    "one booster, bags' rows": _bags_rows,
    "every row each round": {"goss": False},
    "previous default": PREVIOUS_DEFAULT,
    "old default (1x200)": {
        "bags": 1,
        "max_iter": 200,
        "learning_rate": 0.15,
        "lambda_l2": 0.0,
        **PREVIOUS_TREES,
        "augment": AugmentSpec(copies=1, max_shift=1),
    },
}


def load_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All 70,000 digits in id order, and the hash test-fold mask."""
    batches = read_vendored()
    pixels = np.concatenate([b.pixels for b in batches])
    labels = np.concatenate([b.labels for b in batches]).astype(np.int64)
    return pixels, labels, held_out_mask(np.arange(len(labels)))


def median_seconds(fn: Callable[[int], object], calls: int) -> float:
    """Median wall time of ``fn(i)`` over ``calls`` calls (after one warm-up call)."""
    fn(0)
    times = []
    for i in range(calls):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(fn: Callable[[], object]) -> tuple[object, float, float]:
    """Run ``fn``; return its result, wall seconds and CPU seconds of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure_model(name: str, spec: ModelSpec, data: tuple, quick: bool) -> dict:
    """Train one config and measure accuracy, size and latencies."""
    x_train, y_train, x_test, y_test = data
    model, wall, cpu = timed(lambda: BaggedBoostedTrees.fit(x_train, y_train, spec, progress=True))
    scores = model.scores(x_test)  # once: the predictions and the log loss both come from it
    predicted, probabilities = scores.argmax(axis=1), softmax(scores)
    confusion = confusion_matrix(y_test, predicted)
    rows = x_test[:1000]
    n_single = 50 if quick else 300
    _, explain_wall, _ = timed(lambda: explain(model, rows))
    return {
        "name": name,
        "accuracy": float(np.mean(predicted == y_test)),
        "mldb_accuracy": mldb_weighted_accuracy(confusion),
        "log_loss": log_loss(y_test, probabilities),
        "brier": brier_score(y_test, probabilities),
        "seed": spec.seed,
        "probabilities": probabilities,  # for the paired comparison, not printed
        "train_s": wall,
        "cpu_s": cpu,
        "trees": model.n_trees,
        "bytes": len(model.to_bytes()),
        "predict_ms": 1e3 * median_seconds(lambda i: model.predict(x_test[i]), n_single),
        "explain_ms": 1e3 * median_seconds(lambda i: explain(model, x_test[i]), n_single // 5),
        "shap_ms": 1e3 * median_seconds(lambda i: explain_with_shap(model, x_test[i]), 5),
        "explain_rows_s": len(rows) / explain_wall,
    }


def plain_booster(spec: ModelSpec, trees: int, data: tuple) -> dict:
    """One LightGBM booster on raw pixels, same tree settings, as many trees as the ensemble."""
    x_train, y_train, x_test, y_test = data
    params = spec.lightgbm_params(0)
    train_set = lightgbm.Dataset(x_train, label=y_train, params=params)
    rounds = max(1, trees // 10)
    booster, wall, cpu = timed(lambda: lightgbm.train(params, train_set, num_boost_round=rounds))
    probabilities = booster.predict(x_test, num_threads=spec.num_threads)
    predicted = np.argmax(probabilities, axis=1)
    one = np.ascontiguousarray(x_test[:1], dtype=np.float32)
    latency = median_seconds(lambda i: booster.predict(one, raw_score=True, num_threads=1), 300)
    size = len(booster.model_to_string().encode())
    row = baseline_row("  plain LightGBM", y_test, predicted, (wall, cpu), size, latency)
    losses = {
        "log_loss": log_loss(y_test, probabilities),
        "brier": brier_score(y_test, probabilities),
    }
    return {**row, "trees": booster.num_trees(), **losses}


def knn(data: tuple) -> dict:
    """scikit-learn's k-NN with k=4 on raw pixels (MLDB's comparison point)."""
    from sklearn.neighbors import KNeighborsClassifier

    x_train, y_train, x_test, y_test = data
    knn_model = KNeighborsClassifier(n_neighbors=4, n_jobs=2)
    _, wall, cpu = timed(lambda: knn_model.fit(x_train, y_train))
    predicted = knn_model.predict(x_test)
    latency = median_seconds(lambda i: knn_model.predict(x_test[i : i + 1]), 50)
    size = len(pickle.dumps(knn_model))
    return baseline_row("k-NN (k=4)", y_test, predicted, (wall, cpu), size, latency)


def baseline_row(
    name: str,
    labels: np.ndarray,
    predicted: np.ndarray,
    seconds: tuple[float, float],
    size: int,
    latency: float,
) -> dict:
    """One baseline's figures: accuracies, training (wall, CPU) seconds, size, 1-row latency."""
    return {
        "name": name,
        "accuracy": float(np.mean(predicted == labels)),
        "mldb_accuracy": mldb_weighted_accuracy(confusion_matrix(labels, predicted)),
        "train_s": seconds[0],
        "cpu_s": seconds[1],
        "bytes": size,
        "predict_ms": 1e3 * latency,
    }


# (result key, header, format spec); each cell is right-aligned in 11 characters.
COLUMNS = [
    ("accuracy", "top-1", ".2%"),
    ("mldb_accuracy", "mldb-acc", ".2%"),
    ("log_loss", "log-loss", ".4f"),
    ("brier", "brier", ".4f"),
    ("seed", "seed", "d"),
    ("train_s", "train-s", ".1f"),
    ("cpu_s", "cpu-s", ".1f"),
    ("trees", "trees", "d"),
    ("bytes", "bytes", ",d"),
    ("predict_ms", "pred-ms", ".3f"),
    ("explain_ms", "expl-ms", ".2f"),
    ("shap_ms", "shap-ms", ".1f"),
    ("explain_rows_s", "expl-r/s", ".0f"),
]


def print_table(title: str, rows: list[dict]) -> None:
    """Print result rows as a fixed-width table ('-' where a figure does not apply)."""
    print(f"\n{title}\n{'config':<24}" + "".join(f"{head:>11}" for _, head, _ in COLUMNS))
    for row in rows:
        cells = [f"{row[key]:>11{fmt}}" if key in row else f"{'-':>11}" for key, _, fmt in COLUMNS]
        print(f"{row['name']:<24}" + "".join(cells), flush=True)


def split(quick: bool, official: bool = False) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test): hash folds or MNIST's own split; --quick: 12k/3k."""
    if official:
        train, test = read_vendored()
        x_train, y_train, x_test, y_test = train.pixels, train.labels, test.pixels, test.labels
    else:
        pixels, labels, test_mask = load_mnist()
        x_train, y_train = pixels[~test_mask], labels[~test_mask]
        x_test, y_test = pixels[test_mask], labels[test_mask]
    if quick:
        return x_train[:12000], y_train[:12000], x_test[:3000], y_test[:3000]
    return x_train, y_train, x_test, y_test


def load_spec(path: Path, quick: bool) -> tuple[ModelSpec, bool]:
    """The config's ModelSpec (rounds capped in --quick mode) and whether it is MNIST's split."""
    config = ExperimentConfig.from_toml(path)
    official = config.folds == (OFFICIAL_FOLD,)
    if not official and config.folds != (DEFAULT_FOLD,):
        print(f"note: {path.name} declares other folds; this bench uses the hash folds for it")
    spec = replace(config.spec, max_iter=min(config.spec.max_iter, 10)) if quick else config.spec
    return spec, official


def main() -> None:
    """Parse arguments, train every config and print the tables."""
    experiments = resource_dir("experiments")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shipped = ("mldb_bbdt.toml", "default.toml", "official.toml")
    default_configs = [experiments / name for name in shipped]
    parser.add_argument("--configs", nargs="*", type=Path, default=default_configs)
    parser.add_argument("--frontier", action="store_true", help="also train the candidate grid")
    parser.add_argument("--candidates", nargs="+", choices=list(FRONTIER), help="of the grid")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="of the frontier")
    parser.add_argument("--quick", action="store_true", help="small slice, few rounds: smoke run")
    parser.add_argument("--no-baselines", action="store_true", help="skip plain LightGBM, k-NN")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    splits = {official: split(args.quick, official) for official in (False, True)}
    rows = []
    for path in args.configs:
        spec, official = load_spec(path, args.quick)
        name = f"{path.stem} ({'official' if official else 'hash'})"
        rows.append(measure_model(name, spec, splits[official], args.quick))
        if not args.no_baselines:
            rows.append(plain_booster(spec, rows[-1]["trees"], splits[official]))
        print_table("results so far", rows[-2:] if not args.no_baselines else rows[-1:])
    if not args.no_baselines:
        rows.append(knn(splits[False]))
    print_table("configs and baselines", rows)
    if args.frontier:
        chosen = args.candidates or list(FRONTIER)
        frontier(experiments / "default.toml", splits[True], chosen, args.seeds, args.quick)


def frontier(default: Path, data: tuple, names: list[str], seeds: list[int], quick: bool) -> None:
    """Train the candidates around default.toml on MNIST's split and print their table."""
    base, _ = load_spec(default, quick)
    rows = []
    for seed in seeds:
        for name in names:
            overrides = FRONTIER[name]
            spec = replace(base, **(overrides(base) if callable(overrides) else overrides))
            spec = replace(spec, seed=seed)
            if quick:
                spec = replace(spec, max_iter=min(spec.max_iter, 10))
            rows.append(measure_model(name, spec, data, quick))
            print_table("frontier so far", rows[-1:])
    print_table("frontier (candidates for default.toml, MNIST's split)", rows)
    if len(seeds) > 1:
        print_table(f"mean over seeds {seeds}", [mean_row(rows, name) for name in names])
    print_paired(rows, data[3])


def mean_row(rows: list[dict], name: str) -> dict:
    """One candidate's figures averaged over its seeds."""
    runs = [row for row in rows if row["name"] == name]
    keys = [key for key, _, fmt in COLUMNS if not fmt.endswith("d")]  # not seed, trees, bytes
    return {"name": name, **{key: statistics.mean(run[key] for run in runs) for key in keys}}


def print_paired(rows: list[dict], labels: np.ndarray) -> None:
    """Each candidate beside the first one (default.toml) of its seed, then over all seeds."""
    print(
        f"\npaired with {rows[0]['name']} (candidate minus it; [95% bootstrap interval])\n"
        f"{'candidate':<24}{'seed':>5}{'only-it':>9}{'only-base':>11}{'sign-p':>8}"
        f"{'top-1 diff':>26}{'log-loss diff':>28}{'brier diff':>28}"
    )
    base_name = rows[0]["name"]
    seeds = list(dict.fromkeys(row["seed"] for row in rows))
    names = [name for name in dict.fromkeys(row["name"] for row in rows) if name != base_name]
    groups = [(str(seed), [seed]) for seed in seeds]
    if len(seeds) > 1:
        groups.append(("all", seeds))
    for label, group in groups:
        for name in names:
            base, it = _runs(rows, base_name, group), _runs(rows, name, group)
            _print_pair(name, label, base, it, labels)


def _runs(rows: list[dict], name: str, seeds: list[int]) -> np.ndarray:
    """(seeds, n, 10) probabilities of one candidate, in the order of ``seeds``."""
    by_seed = {row["seed"]: row["probabilities"] for row in rows if row["name"] == name}
    return np.stack([by_seed[seed] for seed in seeds])


def _print_pair(name: str, seed: str, base: np.ndarray, it: np.ndarray, labels: np.ndarray) -> None:
    # Over all seeds a digit counts for whichever reads it right with more seeds (metrics).
    paired = paired_comparison(labels, base, it)
    cells = [_with_interval(paired, key, fmt) for key, fmt in PAIRED]
    print(
        f"{name:<24}{seed:>5}{paired['only_b']:>9}{paired['only_a']:>11}"
        f"{paired['sign_test_p']:>8.3f}" + "".join(f"{cell:>28}" for cell in cells)
    )


PAIRED = [("accuracy", "+.2%"), ("log_loss", "+.4f"), ("brier", "+.4f")]


def _with_interval(paired: dict, key: str, fmt: str) -> str:
    low, high = paired[f"{key}_ci"]
    return f"{paired[key + '_diff']:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


if __name__ == "__main__":
    main()
