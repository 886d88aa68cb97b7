"""Training one bag where the data is: this process's database, or a Dask worker's copy of it.

A bag reads its own rows with SQL (``mlpaint.bags``), prepares them, trains its booster and
hands back the booster's text. The same function runs in ``mlpaint train`` and as a Dask task,
so a config and seed give the same boosters wherever they train.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from mlpaint.bags import bag_parameters, selects_rows
from mlpaint.experiment import ExperimentConfig
from mlpaint.model import train_booster
from mlpaint.preprocess import deskew
from mlpaint.trainingdata import FoldData, load_rows


class ClusterError(RuntimeError):
    """Bags cannot train where the config says: the message says why in one line."""


class DataUnreachableError(ClusterError):
    """A worker cannot open the copy of the training data it was pointed at."""


@dataclass(frozen=True)
class BagResult:
    """One trained bag: its booster as LightGBM text, and what training it cost."""

    fold: int
    bag: int
    booster: str
    rows: int
    seconds: float
    peak_rss_mb: float  # of the process that trained it, over its life so far
    where: str  # "local" or the Dask worker's address


def bag_rows(
    con: duckdb.DuckDBPyConnection, config: ExperimentConfig, fold: int, bag: int
) -> FoldData:
    """The training rows of bag ``bag`` of fold ``fold``, selected in SQL when the spec allows."""
    spec = config.spec
    parameters = None
    if selects_rows(spec.bag_fraction, spec.bag_replacement):
        parameters = bag_parameters(spec.seed, bag, spec.bag_fraction)
    predicate = config.folds[fold].training_where
    return load_rows(con, config, predicate, f"folds[{fold}].training_where", bag=parameters)


def train_bag(
    con: duckdb.DuckDBPyConnection,
    config: ExperimentConfig,
    fold: int,
    bag: int,
    *,
    tick: Callable[[], None] | None = None,
    where: str = "local",
) -> BagResult:
    """Read bag ``bag`` of fold ``fold`` from ``con`` and train its booster."""
    started = time.perf_counter()
    data = bag_rows(con, config, fold, bag)
    pixels = deskew(data.pixels) if config.spec.deskew else data.pixels
    booster = train_booster(pixels, data.labels, config.spec, bag, tick)
    return BagResult(
        fold,
        bag,
        booster.model_to_string(),
        len(data.labels),
        time.perf_counter() - started,
        peak_rss_mb(),
        where,
    )


def train_bag_task(
    snapshot: str, config: dict, fold: int, bag: int, threads: int | None = None
) -> BagResult:
    """A Dask task: train one bag from the data copy at ``snapshot`` (a DuckDB file).

    ``threads`` (default the config's ``num_threads``) is the booster's share of the worker's
    cores; with ``deterministic`` and column-wise histograms LightGBM builds the same trees
    whatever the thread count (a test checks), so it changes the time, never the model.
    """
    parsed = ExperimentConfig.from_dict(config)
    if threads is not None:
        parsed = dataclasses.replace(
            parsed, spec=dataclasses.replace(parsed.spec, num_threads=threads)
        )
    con = open_snapshot(snapshot)
    try:
        return train_bag(con, parsed, fold, bag, where=worker_name())
    finally:
        con.close()


def open_snapshot(snapshot: str, where: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the bags' data read-only, or say plainly that this machine cannot see it."""
    try:
        return duckdb.connect(snapshot, read_only=True)
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0]
        raise DataUnreachableError(
            f"worker {where or worker_name()} cannot read the training data at {snapshot}: {reason}"
        ) from None


def can_read(snapshot: str, dask_worker: Any = None) -> str | None:
    """Run on each worker (``Client.run``) before any bag: None, or why ``snapshot`` is unseen."""
    where = str(dask_worker.address) if dask_worker is not None else None
    try:
        open_snapshot(snapshot, where).close()
    except DataUnreachableError as exc:
        return str(exc)
    return None


def worker_name() -> str:
    """This Dask worker's address, or ``local`` outside a worker."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (0 where the OS does not say)."""
    if sys.platform == "win32":
        return 0.0
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


__all__ = [
    "BagResult",
    "ClusterError",
    "DataUnreachableError",
    "bag_rows",
    "can_read",
    "open_snapshot",
    "peak_rss_mb",
    "train_bag",
    "train_bag_task",
]
