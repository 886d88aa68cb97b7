"""Work spread over processes: results in order, the same as inline."""

from __future__ import annotations

import os

from mlpaint.workpool import map_in_processes


def _pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def test_jobs_run_in_other_processes_and_come_back_in_order() -> None:
    results = map_in_processes(_pid_and_square, list(range(8)), workers=2)
    assert [square for _, square in results] == [x * x for x in range(8)]
    assert os.getpid() not in {pid for pid, _ in results}


def test_one_worker_or_one_job_runs_inline() -> None:
    assert map_in_processes(_pid_and_square, list(range(3)), workers=1) == [
        (os.getpid(), x * x) for x in range(3)
    ]
    assert map_in_processes(_pid_and_square, [4], workers=2) == [(os.getpid(), 16)]
