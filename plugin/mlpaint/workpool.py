"""Work that holds the GIL spread over this machine's cores: a few processes, results in order.

Augmenting a bag's rows (``mlpaint.preprocess``) runs NumPy, SciPy and Pillow on small images,
which holds the GIL: threads do not help, processes do (README, "Where the ten minutes go").
Results do not depend on the number of processes, so a job gives the same answer inline, in a
pool, or on a Dask worker.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


def map_in_processes(
    fn: Callable[[Job], Result], jobs: Sequence[Job], workers: int
) -> list[Result]:
    """``[fn(job) for job in jobs]``, spread over up to ``workers`` processes when that can help.

    Inline when there is one worker or one job, and in a daemonic process (a Dask worker), which
    may not start children. ``fn`` must be importable by name (a module-level function).
    """
    workers = min(workers, len(jobs))
    if workers <= 1 or multiprocessing.current_process().daemon:
        return [fn(job) for job in jobs]
    # Fork where there is fork: spawn and forkserver run the caller's main script again in each
    # child, which breaks a script without an ``if __name__ == "__main__"`` guard. The children
    # run NumPy, SciPy and Pillow only, never the DuckDB or LightGBM threads the parent may hold.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    context: Any = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(fn, jobs))
