"""Training and batch scoring on Dask, beside the same work in one process.

Usage: python bench/dask.py --db PATH [--config FILE ...] [--workers 2] [--shards 8]

For each config (default: the two shipped ones) it trains the model in this process and on a
``local:W`` LocalCluster, each run in a fresh subprocess, and prints the wall time of both and
their ratio, the time of each bag, and the peak memory of the client and of the workers. Then
it writes the database's digits as Parquet shards and prints `mlpaint predict` rows/s on
LocalClusters of 1 and W workers (the cluster started beforehand, so its start is not counted),
with the ratio. Each run trains a model version of its own into a copy of the database.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as `python bench/dask.py`, this folder comes first on sys.path and this file would shadow
# the dask package itself.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import duckdb  # noqa: E402

ROOT = HERE.parent
CONFIGS = [ROOT / "experiments" / "default.toml", ROOT / "experiments" / "mldb_bbdt.toml"]

ONE_RUN = """
import json, resource, sys, time
import duckdb
from mlpaint import training
from mlpaint.experiment import load_config
from mlpaint.trainclient import with_cluster

def main():
    db, config, dask = sys.argv[1], sys.argv[2], sys.argv[3] or None
    con = duckdb.connect(db)
    started = time.perf_counter()
    report = training.train(con, with_cluster(load_config(config), dask, None), "bench",
                            progress=False)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "accuracy": report.metrics["test"]["accuracy"],
                      "client_peak_mb": peak, "bags": report.bags}))

if __name__ == "__main__":
    main()
"""


def train_once(db: Path, config: Path, dask: str, folder: Path) -> dict:
    """Train in a fresh interpreter (its peak memory is its own); its figures."""
    script = folder / "one_run.py"
    script.write_text(ONE_RUN)
    out = subprocess.run(
        [sys.executable, str(script), str(db), str(config), dask], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"training {config.name} ({dask or 'here'}) failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_training(config: Path, here: dict, there: dict, workers: int) -> None:
    print(f"\n{config.name}: {len(here['bags'])} bag(s)")
    for name, run in (("this process", here), (f"local:{workers}", there)):
        bags = ", ".join(f"{b['seconds']:.1f}" for b in run["bags"])
        worker_peak = max(b["peak_rss_mb"] for b in run["bags"])
        print(
            f"  {name:<13} wall {run['wall']:7.1f} s   top-1 {run['accuracy']:.2%}   "
            f"bags [{bags}] s   client peak {run['client_peak_mb']:,.0f} MB   "
            f"trainer peak {worker_peak:,.0f} MB"
        )
    print(f"  wall ratio (this process / local:{workers}): {here['wall'] / there['wall']:.2f}x")


def write_shards(db: Path, folder: Path, n_shards: int) -> int:
    """The digits as ``n_shards`` Parquet files; how many rows."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db), read_only=True)
    try:
        for i in range(n_shards):
            con.sql(
                "SELECT id, pixels FROM digits WHERE id % $n = $i", params={"n": n_shards, "i": i}
            ).write_parquet(str(folder / f"part-{i:03d}.parquet"))
        return int(con.sql("SELECT count(*) FROM digits").fetchall()[0][0])
    finally:
        con.close()


def scoring_rate(db: Path, shards: Path, out: Path, workers: int) -> float:
    """Rows/s of batch scoring on a LocalCluster of ``workers`` (started before the clock)."""
    from distributed import Client, LocalCluster

    from mlpaint import batchscore
    from mlpaint.cluster import cores_each

    con = duckdb.connect(str(db), read_only=True)
    try:
        model = batchscore.read_model(con, None)
    finally:
        con.close()
    pairs = batchscore.shard_paths(str(shards / "*.parquet"), out)
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        threads = cores_each(workers)
        warm = pairs[:workers]  # every worker loads the model before the clock starts
        batchscore.score_on(client, model, warm, lambda _: None, threads)
        started = time.perf_counter()
        results = batchscore.score_on(client, model, pairs, lambda _: None, threads)
        seconds = time.perf_counter() - started
    return sum(r.rows for r in results) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--config", type=Path, action="append")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shards", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "bench.duckdb"
        shutil.copyfile(args.db, db)
        for config in args.config or CONFIGS:
            here = train_once(db, config, "", folder)
            there = train_once(db, config, f"local:{args.workers}", folder)
            print_training(config, here, there, args.workers)
        rows = write_shards(db, folder / "shards", args.shards)
        print(f"\nbatch scoring {rows:,} digits in {args.shards} shards (active model):")
        rates = {}
        for workers in sorted({1, args.workers}):
            rates[workers] = scoring_rate(db, folder / "shards", folder / f"out{workers}", workers)
            print(f"  local:{workers:<3} {rates[workers]:9,.0f} rows/s")
        if args.workers != 1:
            print(f"  ratio local:{args.workers} / local:1: {rates[args.workers] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
