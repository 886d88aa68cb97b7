"""Import throughput: the vendored MNIST (70,000 digits) into a fresh DuckDB file, rows/s."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from mlpaint.importer import import_digits
from mlpaint.sources import read_vendored

RUNS = 3


def main() -> None:
    """Print the time and rows/s of reading, checking and writing the full set."""
    read_times, total_times = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        read_vendored()
        read_times.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as folder:
            result = import_digits(Path(folder) / "bench.duckdb", progress=False)
        total_times.append(result.seconds)
    rows = result.rows
    read, total = statistics.median(read_times), statistics.median(total_times)
    print(f"import of {rows:,} digits, median of {RUNS} runs")
    print(f"  read + gunzip + sha256 + checks  {read:6.2f} s  {rows / read:10,.0f} rows/s")
    print(f"  whole import (incl. DuckDB write) {total:6.2f} s  {rows / total:10,.0f} rows/s")


if __name__ == "__main__":
    main()
