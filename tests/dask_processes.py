"""A real Dask cluster for tests: `dask scheduler` and `dask worker` processes on loopback."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from conftest import free_port


class DaskProcesses:
    """A scheduler and named workers started from the command line, as an operator would."""

    def __init__(self, n_workers: int) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by close()
        self.scheduler = self._start(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            self.address.rsplit(":", 1)[1],
            "--no-dashboard",
        )
        self.workers = {
            f"w{i}": self._start(
                "worker",
                self.address,
                "--name",
                f"w{i}",
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
            )
            for i in range(n_workers)
        }
        self.wait_for_workers(n_workers)

    def _start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *args], stdout=self.log, stderr=subprocess.STDOUT
        )

    def client(self):  # -> distributed.Client, imported lazily
        """A client of this cluster (close it after use)."""
        from distributed import Client

        return Client(self.address, timeout=30)

    def wait_for_workers(self, n: int) -> None:
        """Wait until ``n`` workers have joined the scheduler."""
        with self.client() as client:
            client.wait_for_workers(n, timeout=60)

    def kill_busy_worker(self, timeout: float = 120) -> str:
        """SIGKILL the first worker seen running a task; its name."""
        with self.client() as client:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                busy = [address for address, keys in client.processing().items() if keys]
                if busy:
                    name = client.scheduler_info()["workers"][busy[0]]["name"]
                    self.workers[name].send_signal(signal.SIGKILL)
                    self.workers[name].wait()
                    return str(name)
                time.sleep(0.1)
        raise AssertionError("no worker started a task")

    def close(self) -> None:
        """Stop every process."""
        for process in [*self.workers.values(), self.scheduler]:
            process.terminate()
        for process in [*self.workers.values(), self.scheduler]:
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()


@contextlib.contextmanager
def dask_processes(n_workers: int = 2) -> Iterator[DaskProcesses]:
    """Start a scheduler and ``n_workers`` workers; stop them afterwards."""
    cluster = DaskProcesses(n_workers)
    try:
        yield cluster
    finally:
        cluster.close()
