"""``mlpaint predict``: the command line over :mod:`mlpaint.batchscore`."""

from __future__ import annotations

import os
import time

from mlpaint import batchscore, db, registry
from mlpaint.bagtraining import ClusterError
from mlpaint.commanderror import EXIT_BAD_INPUT, CommandError
from mlpaint.experiment import ClusterSpec, ConfigError
from mlpaint.progress import Progress


def predict_command(
    db_path: str | os.PathLike[str] | None,
    pattern: str,
    output_dir: str,
    model_name: str | None,
    *,
    dask: str | None = None,
    workers: int = 1,
) -> int:
    """Score the shards ``pattern`` matches into ``output_dir``; print what it took."""
    try:
        ClusterSpec(dask or "")  # the address's form, as a config's [cluster] table checks it
        pairs = batchscore.shard_paths(pattern, output_dir)
    except (ConfigError, batchscore.BatchError) as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from exc
    if workers < 1:
        raise CommandError("--workers must be at least 1", EXIT_BAD_INPUT)
    model = _model(db_path, model_name)
    started = time.perf_counter()
    with Progress(len(pairs), "scoring", "shard") as bar:
        try:
            results = batchscore.score_shards(
                model, pairs, lambda _: bar.update(), dask=dask, workers=workers
            )
        except (batchscore.BatchError, ClusterError) as exc:
            raise CommandError(f"{exc}; shards already scored are kept") from exc
    seconds = time.perf_counter() - started
    rows = sum(r.rows for r in results)
    print(
        f"scored {rows:,} digits in {len(results)} shard(s) with {model.name} version "
        f"{model.version} in {seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s) "
        f"into {output_dir}"
    )
    return 0


def _model(db_path: str | os.PathLike[str] | None, name: str | None) -> batchscore.ModelBlob:
    """The stored model, read from the database opened read-only."""
    db.existing_db_path(db_path)
    con = db.connect(db_path, read_only=True)
    try:
        return batchscore.read_model(con, name)
    except registry.ModelNotFoundError as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from exc
    finally:
        con.close()
