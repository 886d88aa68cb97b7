"""Training bags on a Dask cluster: connect, check the workers, run one task a bag, gather.

Each bag is one task that reads its rows from a copy of the data every worker reaches
(``mlpaint.bagdata``), trains its booster and returns the booster's text; the client merges,
evaluates and stores the model exactly as a local run does. A worker that dies mid-bag has its
task moved to another worker by the scheduler; nothing is stored until every bag is back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mlpaint.bagdata import shared_copy
from mlpaint.bagtraining import BagResult, ClusterError, can_read, train_bag_task
from mlpaint.experiment import ExperimentConfig
from mlpaint.progress import Progress

if TYPE_CHECKING:
    import duckdb
    from distributed import Client

CONNECT_TIMEOUT_S = 10
WORKERS_TIMEOUT_S = 60  # how long to wait for a first worker, or for one after all left
POLL_S = 0.5
# What must match between the client and the workers: a mismatch gives a different model,
# or a worker that cannot read the data file.
CHECKED_LIBRARIES = ("mlpaint", "numpy", "lightgbm", "duckdb")

OnBag = Callable[[BagResult, int, int], None]  # (result, done, total); may raise to stop
OnWait = Callable[[], None]  # called while waiting; may raise to stop (Cancelled, Ctrl-C)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(
            "training on Dask needs dask.distributed: pip install 'mlpaint[cluster]'"
        ) from exc
    return distributed


@contextlib.contextmanager
def connect(address: str) -> Iterator[Client]:
    """A client of the scheduler at ``address``, or of a new ``local:N`` LocalCluster."""
    distributed = _distributed()
    if address.startswith("local:"):
        cluster = distributed.LocalCluster(
            n_workers=int(address.split(":", 1)[1]),
            threads_per_worker=1,  # a bag's booster takes the spec's num_threads itself
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        with cluster, distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        yield client


def train_on_cluster(
    con: duckdb.DuckDBPyConnection,
    config: ExperimentConfig,
    report: Callable[[float, str], None],
    *,
    progress: bool = False,
) -> list[BagResult]:
    """Train every bag of ``config`` on its cluster; ``report`` hears each bag (and may stop)."""
    address = config.cluster.dask
    total = len(config.folds) * config.spec.bags
    last = [0.01, f"copying the training data for the workers of {address}"]
    report(*last)
    with (
        shared_copy(con, config, config.cluster.shared_dir) as snapshot,
        connect(address) as client,
    ):
        workers = check_workers(client, snapshot)
        last[1] = f"training {total} bag(s) on {len(workers)} Dask worker(s) at {address}"
        report(*last)
        with Progress(total, f"training on {address}", "bag", enabled=progress) as bar:

            def on_bag(result: BagResult, done: int, total: int) -> None:
                bar.advance_to(done)
                last[:] = [
                    0.85 * done / total,
                    f"bag {result.bag + 1} of fold {result.fold + 1} trained on {result.where} "
                    f"in {result.seconds:.1f} s ({done}/{total})",
                ]
                report(*last)

            return train_bags(client, snapshot, config, on_bag, lambda: report(*last))


def booster_threads(config: ExperimentConfig) -> int | None:
    """Threads per bag: a ``local:N`` cluster shares this machine's cores between its N workers.

    More threads than cores make LightGBM's threads wait on each other (several times slower);
    on a real cluster each worker process should own ``num_threads`` cores (see the README).
    """
    address = config.cluster.dask
    if not address.startswith("local:"):
        return None
    tasks = len(config.folds) * config.spec.bags  # fewer bags than workers leave cores idle
    return cores_each(min(int(address.split(":", 1)[1]), tasks))


def cores_each(processes: int) -> int:
    """This machine's cores shared by ``processes`` processes (at least one each)."""
    return max(1, (os.cpu_count() or 1) // processes)


def library_versions() -> dict[str, str]:
    """The versions that must match across the cluster (run on the client and each worker)."""
    from mlpaint.registry import library_versions as all_versions

    versions = all_versions()
    return {name: versions[name] for name in CHECKED_LIBRARIES}


def check_workers(
    client: Client, snapshot: str | None, expected: dict[str, str] | None = None
) -> list[str]:
    """Wait for workers, check their versions and that they see ``snapshot``; their addresses."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
    except TimeoutError:
        raise ClusterError(
            f"no Dask worker joined the scheduler within {WORKERS_TIMEOUT_S} s"
        ) from None
    expected = expected or library_versions()
    mismatches = [
        f"{worker} has {name} {found.get(name)} (this machine: {want})"
        for worker, found in client.run(library_versions).items()
        for name, want in expected.items()
        if found.get(name) != want
    ]
    if mismatches:
        raise ClusterError(
            "the workers' libraries differ from this machine's, so the model would too: "
            + "; ".join(sorted(mismatches))
        )
    unreachable = []
    if snapshot is not None:
        unreachable = [p for p in client.run(can_read, snapshot).values() if p is not None]
    if unreachable:
        raise ClusterError(
            f"{sorted(unreachable)[0]} (put the data on storage every worker reaches: "
            "--shared-dir or cluster.shared_dir)"
        )
    return sorted(client.scheduler_info()["workers"])


def train_bags(
    client: Client,
    snapshot: str,
    config: ExperimentConfig,
    on_bag: OnBag,
    on_wait: OnWait | None = None,
) -> list[BagResult]:
    """Train every bag of every fold as one task each; results in (fold, bag) order."""
    distributed = _distributed()
    run = uuid.uuid4().hex[:8]
    raw = config.to_dict()
    futures = [
        client.submit(
            train_bag_task,
            snapshot,
            raw,
            fold,
            bag,
            booster_threads(config),
            key=f"mlpaint-bag-{run}-f{fold}-b{bag}",
        )
        for fold in range(len(config.folds))
        for bag in range(config.spec.bags)
    ]
    results: list[BagResult] = []
    try:
        pending = set(futures)
        lonely_since: float | None = None
        while pending:
            done = _first_done(distributed, pending)
            pending -= done
            for future in done:
                results.append(_result(future))
                on_bag(results[-1], len(results), len(futures))
            if on_wait is not None:
                on_wait()
            lonely_since = _check_alive(client, lonely_since)
    finally:
        client.cancel([f for f in futures if not f.done()])
    return sorted(results, key=lambda r: (r.fold, r.bag))


def _first_done(distributed: Any, pending: set[Any]) -> set[Any]:
    """The futures done within ``POLL_S`` (none, when the wait times out)."""
    try:
        return set(distributed.wait(pending, timeout=POLL_S, return_when="FIRST_COMPLETED").done)
    except TimeoutError:
        return set()


def _result(future: Any) -> BagResult:
    """A finished task's result, or its failure as one line."""
    distributed = _distributed()
    try:
        return future.result()
    except distributed.KilledWorker as exc:
        raise ClusterError(
            f"{future.key} was running on every worker that died under it ({exc}); "
            "nothing was written"
        ) from None
    except distributed.client.FutureCancelledError:
        raise ClusterError(
            f"{future.key} was cancelled on the cluster; nothing was written"
        ) from None


def _check_alive(client: Client, lonely_since: float | None) -> float | None:
    """Fail once no worker has been there for ``WORKERS_TIMEOUT_S``: tasks would wait forever."""
    if client.scheduler_info().get("workers"):
        return None
    now = time.monotonic()
    if lonely_since is not None and now - lonely_since > WORKERS_TIMEOUT_S:
        raise ClusterError(
            f"every Dask worker left and none joined for {WORKERS_TIMEOUT_S} s; nothing was written"
        )
    return lonely_since if lonely_since is not None else now
