"""Batch scoring: Parquet shards of digits in, a Parquet file of predictions per shard out.

Each shard (columns ``id`` and ``pixels``) is scored by ``sql/predict.sql`` in a DuckDB of its
own with the ``ml_*`` functions of one model: in local processes, or as one Dask task a shard.
A shard's output appears whole or not at all (it is written beside, then renamed).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from mlpaint import db, sqlfunctions
from mlpaint.cluster import cores_each
from mlpaint.model import BaggedBoostedTrees
from mlpaint.registry import LoadedModel, resolve
from mlpaint.resources import sql_path

REQUIRED_COLUMNS = ("id", "pixels")
_MODELS: dict[str, LoadedModel] = {}  # per process: a worker loads each model once


class BatchError(ValueError):
    """Shards that cannot be scored: the message says which and why."""


@dataclass(frozen=True)
class ModelBlob:
    """A stored model as bytes, to ship to the processes that score."""

    name: str
    version: int
    created_at: datetime
    blob: bytes

    @property
    def key(self) -> str:
        """Identifies the model in a process's cache."""
        return f"{self.name}:{self.version}:{hashlib.sha256(self.blob).hexdigest()[:16]}"


@dataclass(frozen=True)
class ShardResult:
    """One scored shard."""

    source: str
    target: str
    rows: int
    seconds: float
    where: str


def shard_paths(pattern: str, output_dir: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(input, output) path pairs for the files ``pattern`` matches, checked before any work."""
    sources = sorted(glob.glob(os.path.expanduser(pattern)))
    if not sources:
        raise BatchError(f"no file matches {pattern!r}")
    folder = Path(output_dir)
    targets = [str(folder / (Path(s).stem + ".parquet")) for s in sources]
    if len(set(targets)) < len(targets):
        raise BatchError("two input files share a name; their outputs would collide")
    clash = [
        s for s, t in zip(sources, targets, strict=True) if Path(s).resolve() == Path(t).resolve()
    ]
    if clash:
        raise BatchError(f"{clash[0]} would be overwritten by its own predictions")
    return list(zip(sources, targets, strict=True))


def score_shard(
    model: ModelBlob, source: str, target: str, threads: int | None = None
) -> ShardResult:
    """Score one shard into ``target``: the task each local process or Dask worker runs.

    ``threads`` caps this process's share of the cores (the model's threads, one DuckDB thread):
    processes sharing a machine must not run more threads than it has cores.
    """
    started = time.perf_counter()
    con = duckdb.connect(config={"threads": 1} if threads else {})
    try:
        con.execute("SET enable_progress_bar = false")  # the command shows one bar over shards
        sqlfunctions.register_family(con, "ml", _loaded(model, threads))
        try:
            shard = con.read_parquet(source)
        except duckdb.Error as exc:
            raise BatchError(f"{source}: {db.error_reason(exc)}") from None
        missing = [c for c in REQUIRED_COLUMNS if c not in shard.columns]
        if missing:
            raise BatchError(f"{source}: no {missing[0]!r} column (shards need id and pixels)")
        shard.create_view("shard")
        partial = f"{target}.partial"
        try:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            result = con.sql(sql_path("predict.sql").read_text(encoding="utf-8"))
            result.write_parquet(partial)
            rows = int(con.read_parquet(partial).count("*").fetchall()[0][0])
            os.replace(partial, target)
        except (OSError, duckdb.Error) as exc:
            raise BatchError(f"{source}: {db.error_reason(exc)}") from None
        finally:
            Path(partial).unlink(missing_ok=True)
    finally:
        con.close()
    return ShardResult(source, target, rows, time.perf_counter() - started, _where())


def _loaded(model: ModelBlob, threads: int | None) -> LoadedModel:
    key = f"{model.key}:{threads}"
    if key not in _MODELS:
        _MODELS.clear()  # one model at a time per process
        parsed = BaggedBoostedTrees.from_bytes(model.blob)
        if threads:
            parsed.spec = dataclasses.replace(parsed.spec, num_threads=threads)
        _MODELS[key] = LoadedModel(model.name, model.version, model.created_at, parsed)
    return _MODELS[key]


def _where() -> str:
    from mlpaint.bagtraining import worker_name

    return worker_name()


OnShard = Callable[[ShardResult], None]


def read_model(con: duckdb.DuckDBPyConnection, name: str | None) -> ModelBlob:
    """The newest version of ``name`` (default: the active model), as stored."""
    name, version = resolve(con, name, None)
    row = db.query_one(
        con, "SELECT created_at, model FROM models WHERE name = ? AND version = ?", [name, version]
    )
    if row is None:
        raise BatchError(f"no model {name} version {version}")
    return ModelBlob(name, version, row[0], bytes(row[1]))


def score_shards(
    model: ModelBlob,
    pairs: list[tuple[str, str]],
    on_shard: OnShard,
    *,
    dask: str | None = None,
    workers: int = 1,
) -> list[ShardResult]:
    """Score every (input, output) pair: on a Dask cluster, in ``workers`` processes, or here."""
    if dask:
        return _on_cluster(model, pairs, on_shard, dask)
    if workers <= 1 or len(pairs) == 1:
        return [_reported(score_shard(model, *pair), on_shard) for pair in pairs]
    return _in_processes(model, pairs, on_shard, workers)


def _reported(result: ShardResult, on_shard: OnShard) -> ShardResult:
    on_shard(result)
    return result


def _in_processes(
    model: ModelBlob, pairs: list[tuple[str, str]], on_shard: OnShard, workers: int
) -> list[ShardResult]:
    """Local worker processes, started fresh (spawn): DuckDB's threads must not be forked."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(pairs)), mp_context=context) as pool:
        threads = cores_each(min(workers, len(pairs)))
        futures = [pool.submit(score_shard, model, *pair, threads) for pair in pairs]
        try:
            return [_reported(f.result(), on_shard) for f in as_completed(futures)]
        finally:
            for future in futures:
                future.cancel()


def _on_cluster(
    model: ModelBlob, pairs: list[tuple[str, str]], on_shard: OnShard, address: str
) -> list[ShardResult]:
    """One Dask task a shard; every worker must reach the input files and the output folder."""
    from mlpaint.cluster import connect

    with connect(address) as client:
        local = address.startswith("local:")
        threads = cores_each(int(address.split(":", 1)[1])) if local else None
        return score_on(client, model, pairs, on_shard, threads)


def score_on(
    client: Any,
    model: ModelBlob,
    pairs: list[tuple[str, str]],
    on_shard: OnShard,
    threads: int | None = None,
) -> list[ShardResult]:
    """Score on the workers of a connected ``distributed.Client``."""
    import distributed

    from mlpaint.cluster import check_workers

    check_workers(client, None)
    shared = client.scatter(model, broadcast=True, hash=False)  # a key of its own per call
    futures = [client.submit(score_shard, shared, *pair, threads, pure=False) for pair in pairs]
    try:
        return [_reported(f.result(), on_shard) for f in distributed.as_completed(futures)]
    finally:
        client.cancel([f for f in futures if not f.done()])
