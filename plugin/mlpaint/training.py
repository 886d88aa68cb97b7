"""Training an experiment: load each fold with SQL, fit, evaluate, register in one transaction.

Several folds train one model each; the registry keeps the first fold's model as the servable
one, every fold's metrics, and the mean and sample standard deviation of each scalar metric
across folds (the headline numbers, ``metrics["test"]``). Nothing is written until every fold
has trained, so an error, Ctrl-C or a ``Cancelled`` raised by ``on_progress`` leaves the database
exactly as it was. The rows come from :mod:`mlpaint.trainingdata`, whose SQL only ever reads.

Metrics JSON: ``{"n_folds", "test": {scalar: mean}, "test_std": {scalar: std}, "train",
"train_std" (with evaluate_train), "bags" and "not_digit" (the servable model's bag agreement and
verdict threshold, ``mlpaint.verdict.evaluate``), "folds": [{"fold", "test": evaluate(),
"train"?}]}``.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import lightgbm

from mlpaint import metrics, registry, verdict
from mlpaint.bagtraining import BagResult, train_bag
from mlpaint.experiment import ConfigError, ExperimentConfig, Fold
from mlpaint.model import BaggedBoostedTrees
from mlpaint.progress import Progress
from mlpaint.trainingdata import FoldData, check_config, count_rows, load_rows

__all__ = [
    "Cancelled",
    "FoldData",
    "TrainReport",
    "check_config",
    "check_name",
    "load_rows",
    "train",
]

ProgressFn = Callable[[float, str], None]  # may raise Cancelled to stop the run
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


class Cancelled(Exception):
    """Raised by an ``on_progress`` callback to stop training; nothing is written."""


@dataclass(frozen=True)
class TrainReport:
    """What a training run produced, for the command line and the REST API."""

    name: str
    version: int
    metrics: dict[str, Any]
    n_trees: int
    n_boosters: int
    seconds: float
    size_bytes: int
    row_counts: list[dict[str, int]]
    bags: list[dict[str, Any]]  # per bag: fold, bag, rows, seconds, peak_rss_mb, where


@dataclass(frozen=True)
class _FoldResult:
    model: BaggedBoostedTrees | None  # kept for the first fold only: the servable model
    test: dict[str, Any]
    train: dict[str, Any] | None
    rows: dict[str, int]
    predictions: registry.Predictions | None
    verdict: dict[str, Any] | None = None  # the servable model's: bags' agreement, threshold


def check_name(name: str) -> None:
    """Model names: a letter, then up to 63 letters, digits, ``_``, ``-`` or ``.``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"model name {name!r}: use a letter then letters, digits, _ - or .")


class _FoldProgress:
    """Maps each fold's phases onto one 0..1 scale for ``on_progress``."""

    def __init__(self, n_folds: int, callback: ProgressFn | None) -> None:
        self.n_folds, self.callback = n_folds, callback

    def report(self, fold: int, within: float, message: str) -> None:
        """Tell the callback how far fold ``fold`` is (``within`` 0..1 of it)."""
        if self.callback is not None:
            fraction = min(0.99, (fold + within) / self.n_folds * 0.99)
            self.callback(fraction, f"fold {fold + 1}/{self.n_folds}: {message}")

    def rounds(self, fold: int) -> Callable[[int, int], None]:
        """An ``on_round`` callback for ``BaggedBoostedTrees.fit``: fitting is 5%..90% of a fold."""
        return lambda done, total: self.report(
            fold, 0.05 + 0.85 * done / max(total, 1), f"training round {done}/{total}"
        )

    def overall(self, fraction: float, message: str) -> None:
        """A tick outside any fold (saving, done)."""
        if self.callback is not None:
            self.callback(fraction, message)


def _local_bags(
    con: duckdb.DuckDBPyConnection,
    config: ExperimentConfig,
    index: int,
    bar: bool,
    tracker: _FoldProgress,
) -> list[BagResult]:
    """Train fold ``index``'s bags one after another in this process."""
    tracker.report(index, 0.0, "loading rows")
    spec = config.spec
    total = spec.bags * spec.max_iter
    on_round = tracker.rounds(index)
    with Progress(total, "training", "round", enabled=bar, on_update=on_round) as rounds:
        results = []
        for bag in range(spec.bags):
            results.append(train_bag(con, config, index, bag, tick=rounds.update))
            # A bag that stopped early still counts all its rounds, so the total is reached.
            rounds.advance_to((bag + 1) * spec.max_iter)
    return results


def _bags_by_fold(
    con: duckdb.DuckDBPyConnection, config: ExperimentConfig, bar: bool, tracker: _FoldProgress
) -> list[list[BagResult]]:
    """Every fold's bags, trained here or, when the config names one, on a Dask cluster."""
    if not config.cluster.dask:
        return [_local_bags(con, config, i, bar, tracker) for i in range(len(config.folds))]
    from mlpaint.cluster import train_on_cluster  # needs dask.distributed, only then

    results = train_on_cluster(con, config, tracker.overall, progress=bar)
    return [[r for r in results if r.fold == i] for i in range(len(config.folds))]


def _run_fold(
    con: duckdb.DuckDBPyConnection,
    config: ExperimentConfig,
    index: int,
    fold: Fold,
    bags: list[BagResult],
    tracker: _FoldProgress,
) -> _FoldResult:
    """Evaluate one fold's model, built from its trained bags."""
    tracker.report(index, 0.9, "evaluating")
    boosters = [lightgbm.Booster(model_str=result.booster) for result in bags]
    model = BaggedBoostedTrees(config.spec, boosters)
    key = f"folds[{index}]"
    test = load_rows(con, config, fold.testing_where, f"{key}.testing_where")
    probabilities = model.probabilities(test.pixels)
    train_metrics, train = None, None
    if config.evaluate_train:
        train = load_rows(con, config, fold.training_where, f"{key}.training_where")
        train_metrics = metrics.evaluate(train.labels, model.probabilities(train.pixels))
    predictions = None
    if test.ids is not None and index == 0:
        predictions = registry.Predictions(test.ids, test.labels, probabilities)
    n_train = count_rows(con, config, fold.training_where, f"{key}.training_where")
    rows = {"fold": index, "train": n_train, "test": len(test.labels)}
    test_metrics = metrics.evaluate(test.labels, probabilities)
    if index != 0:  # only the first fold's model is served; dropping the others frees memory
        return _FoldResult(None, test_metrics, train_metrics, rows, predictions)
    tracker.report(index, 0.95, "training the digit / not-a-digit verdict")
    if train is None:
        train = load_rows(con, config, fold.training_where, f"{key}.training_where")
    # Sets model.verdict; the detector learns from training digits only.
    figures = verdict.evaluate(model, test.pixels, test.ids, (train.pixels, train.ids))
    return _FoldResult(model, test_metrics, train_metrics, rows, predictions, figures)


def _combine(results: list[_FoldResult]) -> dict[str, Any]:
    """Headline means and standard deviations across folds, then every fold's full metrics."""
    combined: dict[str, Any] = {"n_folds": len(results)}
    for split in ("test", "train"):
        runs = [getattr(r, split) for r in results if getattr(r, split) is not None]
        if runs:
            summary = metrics.summarize(runs)
            combined[split], combined[f"{split}_std"] = summary["mean"], summary["std"]
    if results[0].verdict is not None:  # the servable model's (``mlpaint.verdict.evaluate``)
        combined.update(results[0].verdict)
    combined["folds"] = [
        {"fold": i, "test": r.test, **({"train": r.train} if r.train is not None else {})}
        for i, r in enumerate(results)
    ]
    return combined


def train(
    con: duckdb.DuckDBPyConnection,
    config: ExperimentConfig,
    name: str,
    *,
    progress: bool = True,
    on_progress: ProgressFn | None = None,
) -> TrainReport:
    """Train every fold of ``config``, then register the model as the next version of ``name``."""
    check_name(name)
    check_config(con, config)
    started = time.perf_counter()
    tracker = _FoldProgress(len(config.folds), on_progress)
    bags = _bags_by_fold(con, config, progress, tracker)
    results = [
        _run_fold(con, config, index, fold, bags[index], tracker)
        for index, fold in enumerate(config.folds)
    ]
    model = results[0].model
    assert model is not None
    record = registry.ModelRecord(
        model=model,
        config=config.to_dict(),
        metrics=_combine(results),
        folds=[fold.to_dict() for fold in config.folds],
        row_counts=[r.rows for r in results],
        confusions=[r.test["confusion"] for r in results],
        seconds=time.perf_counter() - started,
        predictions=results[0].predictions,
    )
    tracker.overall(0.99, "saving the model")  # the last moment a Cancelled stops the run
    try:
        version = registry.save_model(con, name, record)
    except registry.UnservableModelError as exc:
        raise ConfigError(f"{exc}: try a lower algorithm.learning_rate") from exc
    with contextlib.suppress(Cancelled):  # the model is saved: too late to cancel
        tracker.overall(1.0, f"saved {name} version {version}")
    return TrainReport(
        name=name,
        version=version,
        metrics=record.metrics,
        n_trees=model.n_trees,
        n_boosters=model.n_boosters,
        seconds=record.seconds,
        size_bytes=len(record.blob),
        row_counts=record.row_counts,
        bags=[_bag_summary(r) for fold_bags in bags for r in fold_bags],
    )


def _bag_summary(result: BagResult) -> dict[str, Any]:
    """What one bag cost, without its booster."""
    return {
        "fold": result.fold,
        "bag": result.bag,
        "rows": result.rows,
        "seconds": result.seconds,
        "peak_rss_mb": result.peak_rss_mb,
        "where": result.where,
    }


def format_report(report: TrainReport) -> str:
    """A short human summary of a training run."""
    m = report.metrics
    test, std = m["test"], m["test_std"]
    spread = f" ± {std['accuracy']:.2%}" if m["n_folds"] > 1 else ""
    lines = [
        f"model {report.name} version {report.version}: {m['n_folds']} fold(s), "
        + ", ".join(f"{r['train']} train / {r['test']} test rows" for r in report.row_counts[:1]),
        f"  test  top-1 accuracy {test['accuracy']:.2%}{spread}   "
        f"MLDB-style one-vs-rest weighted accuracy {test['mldb_weighted_accuracy']:.4f}",
        f"        log loss {test['log_loss']:.4f}   macro F1 {test['macro_f1']:.4f}",
    ]
    if "train" in m:
        lines.append(
            f"  train top-1 accuracy {m['train']['accuracy']:.2%}   "
            f"log loss {m['train']['log_loss']:.4f}"
        )
    lines.append(
        f"  {report.n_trees} trees in {report.n_boosters} boosters, "
        f"model size {report.size_bytes / 1e6:.1f} MB, trained in {report.seconds:.1f} s"
    )
    return "\n".join(lines)
