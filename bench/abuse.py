"""Hostile requests against real servers: each case's answers, time and the server's peak memory.

Usage: python bench/abuse.py [--db PATH] [--soak-seconds N] [--max-server-mb MB] [--quick]

Copies the database (default $MLPAINT_DB or ./mlpaint.duckdb; it needs an active model) twice
into a temporary folder and runs `mlpaint serve` on each copy: one with --allow-training, one
read-only. Replays issue 9's hostile cases, one line each: the HTTP statuses (or what happened
instead), seconds, and the peak resident memory of the gunicorn master and its workers. Checks
that the training copy still holds every digit and model, then soaks the read-only server with
wrk at 16 connections (scorer, explainer, query) while polling /v1/health every 250 ms.
A server over --max-server-mb (default 3000) is killed and restarted, so that a runaway case
cannot take the machine down. --quick shortens every wait and the soak (10 s) for a smoke run.
Needs wrk (Debian's `wrk` package).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

import duckdb
import requests
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))
from serve import rss_mb, run_wrk

SCORER = "/v1/functions/scorer/application"
EXPLAINER = "/v1/functions/explainer/application"
NAME = "abuse"  # the procedures' model name
TINY = {"bags": 1, "max_iter": 3, "num_leaves": 7, "max_depth": 3, "num_threads": 1}
SAMPLE = "SELECT pixels AS features, label FROM digits LIMIT 3000"
SNEAKY = (
    "WITH gone AS (DELETE FROM digits RETURNING 1) SELECT pixels AS features, label FROM digits"
)
EXPLAIN = "SELECT count(ml_explain(pixels, 3)) FROM (SELECT pixels FROM digits LIMIT 2048)"
WRITES = {
    "DELETE digits": "WITH gone AS (DELETE FROM digits RETURNING id) SELECT count(*) FROM gone",
    "UPDATE digits": "WITH c AS (UPDATE digits SET label = 0 RETURNING id) SELECT count(*) FROM c",
    "INSERT pinned_model": "WITH a AS (INSERT INTO pinned_model VALUES ('x', 9) RETURNING 1) "
    "SELECT count(*) FROM a",
    "DELETE models": "WITH gone AS (DELETE FROM models RETURNING 1) SELECT count(*) FROM gone",
}
ODD_TYPES = {
    "HUGEINT": "SELECT 18446744073709551616::HUGEINT",
    "TIMETZ": "SELECT '12:00:00+05'::TIMETZ",
    "MAP": "SELECT MAP {1.5: 2}",
}
RUNAWAY = {  # each on the tiny settings and 3,000 rows: only the named key is hostile
    "augment.copies = 100000": {"augment": {"copies": 100_000}},
    "max_iter = 1e9": {"algorithm": {**TINY, "max_iter": 10**9}},
    "learning_rate = 1e308": {"algorithm": {**TINY, "learning_rate": 1e308}},
}
STALLS = [  # a body that never comes, and headers that never end
    b"POST " + SCORER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{",
    b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n",
]
Cases = dict[str, Callable[[], str]]


class Server:
    """`mlpaint serve` on a database copy."""

    def __init__(self, db: Path, *extra: str) -> None:
        self.db, self.extra = db, extra
        with socket.socket() as sock:  # one port for good: a restarted server keeps it
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        """Start and wait until /v1/health answers."""
        command = [sys.executable, "-m", "mlpaint", "serve", "--db", str(self.db)]
        command += ["--port", str(self.port), *self.extra]
        # Its own process group, so that killing it kills its workers; no log amid the report.
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.process = subprocess.Popen(command, **quiet, start_new_session=True)
        for _ in range(300):
            if self.process.poll() is not None:
                raise SystemExit(f"the server on {self.db} exited ({self.process.returncode})")
            with suppress(requests.RequestException):
                return requests.get(self.base + "/v1/health", timeout=1).close()
            time.sleep(0.2)
        raise SystemExit("the server did not start in 60 s")

    def kill(self) -> None:
        """Kill the master and its workers (its process group)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        """Ask the master to stop, then kill whatever is left."""
        self.process.terminate()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.kill()
        self.process.wait()

    def rss(self) -> float:
        """Resident MB of master and workers; 0 once gone."""
        with suppress(OSError, ValueError):
            return rss_mb(self.process.pid)
        return 0.0


@contextmanager
def every(seconds: float, tick: Callable[[], None]) -> Iterator[None]:
    """Call ``tick`` every ``seconds`` from a thread while the block runs."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(seconds):
            tick()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


class Health:
    """/v1/health polled from a thread: the worst latency and the failed polls."""

    def __init__(self, server: Server) -> None:
        self.url, self.worst, self.failed, self.polls = server.base + "/v1/health", 0.0, 0, 0

    def poll(self) -> None:
        """One poll, 5 s at most."""
        start = time.monotonic()
        try:
            requests.get(self.url, timeout=5).raise_for_status()
        except requests.RequestException:
            self.failed += 1
        self.worst, self.polls = max(self.worst, time.monotonic() - start), self.polls + 1

    def __str__(self) -> str:
        failed = f", {self.failed}/{self.polls} failed" if self.failed else ""
        return f"health worst {self.worst * 1000:,.0f} ms{failed}"


def ask(method: str, url: str, timeout: float, **kwargs: object) -> str:
    """One request's status (and size when over 1 MB), or what went wrong instead."""
    try:
        with requests.request(method, url, timeout=timeout, stream=True, **kwargs) as answer:
            size = sum(len(chunk) for chunk in answer.iter_content(1 << 16))
    except requests.Timeout:
        return "timeout"
    except requests.RequestException as exc:
        return type(exc).__name__
    return str(answer.status_code) + (f" ({size / 1e6:,.0f} MB)" if size > 1e6 else "")


def at_once(n: int, call: Callable[[], str]) -> str:
    """``call`` from ``n`` threads at once; their answers."""
    with ThreadPoolExecutor(n) as pool:
        return " ".join(pool.map(lambda _: call(), range(n)))


def case(name: str, server: Server, cap_mb: float, action: Callable[[], str]) -> None:
    """Run one case and print its line; a case that breaks is reported, not fatal."""
    start, peak, note = time.monotonic(), [server.rss()], []

    def sample() -> None:  # the peak, and a stop to a server that would take the machine down
        peak[0] = max(peak[0], rss := server.rss())
        if rss > cap_mb and not note:
            note.append(f"  KILLED by the bench at {rss:,.0f} MB")
            server.kill()

    with every(0.05, sample):
        try:
            outcome = action()
        except Exception as exc:  # the bench reports what happened and goes on
            outcome = f"bench error: {exc!r}"[:80]
    if server.process.poll() is not None:
        note.append("  server gone (restarted)")
        server.stop()
        server.start()
    seconds, extra = time.monotonic() - start, "".join(note)
    print(
        f"  {name:<38} {outcome:<44} {seconds:6.1f} s  peak {peak[0]:6,.0f} MB{extra}", flush=True
    )


def train(server: Server, config: dict, window: float) -> str:
    """PUT a procedure; on 202 follow the run for ``window`` s (a fresh server if still going)."""
    answer = requests.put(f"{server.base}/v1/procedures/{NAME}", json=config, timeout=30)
    if answer.status_code != 202:
        return str(answer.status_code)
    url, deadline = server.base + answer.json()["url"], time.monotonic() + window
    while time.monotonic() < deadline:
        try:
            run = requests.get(url, timeout=10).json()
        except requests.RequestException as exc:
            return f"202, then {type(exc).__name__}"
        if run["state"] != "running":
            return f"202, run {run['state']}: {run['error'] or run['message']}"[:44]
        time.sleep(0.5)
    server.kill()  # a run cannot be cancelled: the next case gets a fresh server
    server.process.wait()
    return f"202, still running after {window:.0f} s: killed"


def answered(client: socket.socket) -> bool:
    """Whether the server answered or dropped a stalled client, instead of still waiting."""
    client.setblocking(False)
    with client:
        try:
            client.recv(1)  # bytes or b"": an answer or a close
        except BlockingIOError:
            return False
        except OSError:
            pass  # reset: dropped too
    return True


def stalled(server: Server, hold: float) -> str:
    """16 clients that stall mid-request for ``hold`` s while /v1/health is polled."""
    clients = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(16)]
    for i, client in enumerate(clients):
        client.sendall(STALLS[i % 2])
    health = Health(server)
    with every(0.1, health.poll):
        time.sleep(hold)
    return f"{health}; {sum(map(answered, clients))}/16 cut off"


def huge_png_url() -> str:
    """A '7' on a transparent 4096x4096 RGBA canvas: about 80 KB of PNG."""
    image = Image.new("RGBA", (4096, 4096), (0, 0, 0, 0))
    line = [(1300, 900), (2900, 900), (2000, 3600)]
    ImageDraw.Draw(image).line(line, fill=(0, 0, 0, 255), width=260)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def counts(db: Path) -> tuple:
    """Digits, models (but those case 6 may train) and the pinned model in a database."""
    sql = "SELECT (SELECT count(*) FROM digits), (SELECT count(*) FROM models WHERE name <> ?), "
    with duckdb.connect(str(db), read_only=True) as con:
        sql += "(SELECT list((name, version)) FROM pinned_model)"
        return con.execute(sql, [NAME]).fetchall()[0]


def training_cases(server: Server, window: float) -> Cases:
    """Cases 6, 7, 2 and 1, for the --allow-training server: the ones that may write go last."""
    cases = {}
    for name, extra in RUNAWAY.items():
        config = {"input_data": SAMPLE, "algorithm": TINY, **extra}
        cases[f"6 procedure {name}"] = partial(train, server, config, window)
    cases["7 16 stalled clients"] = partial(stalled, server, window)
    sneaky = {"input_data": SNEAKY, "algorithm": TINY}
    cases["2 procedure input_data DELETE"] = partial(train, server, sneaky, window)
    for name, sql in WRITES.items():
        query = partial(ask, "GET", server.base + "/v1/query", 30, params={"q": sql})
        cases[f"1 query {name}"] = query
    return cases


def read_only_cases(server: Server, window: float, timeout: float) -> Cases:
    """Cases 3, 4, 5, 7, 8 and 9, for the read-only server."""
    query, scorer, ping = (server.base + p for p in ("/v1/query", SCORER, "/v1/health"))

    def select(sql: str, fmt: str = "table") -> str:
        return ask("GET", query, timeout, params={"q": sql, "format": fmt})

    def formats(sql: str) -> str:
        return " ".join(select(sql, fmt) for fmt in ("table", "json", "csv"))

    def explains() -> str:
        health = Health(server)
        with every(0.1, health.poll):
            answers = at_once(4, partial(select, EXPLAIN))
        return f"{answers}; {health}"

    def chunked() -> str:  # a generator body goes out chunked, with no Content-Length
        chunks = (b"a" * 65536 for _ in range(80))
        return ask("POST", scorer, 30, data=chunks, headers={"Content-Type": "application/json"})

    png = {"input": {"image": huge_png_url()}}
    lists = partial(at_once, 4, partial(select, "SELECT list(pixels) FROM digits"))
    cases = {"3 list(pixels) x4": lists}
    cases["4 ml_explain of 2048 rows x4"] = explains
    cases |= {f"5 {name} table/json/csv": partial(formats, sql) for name, sql in ODD_TYPES.items()}
    cases["7 16 stalled clients"] = partial(stalled, server, window)
    pngs = partial(at_once, 4, partial(ask, "POST", scorer, timeout, json=png))
    cases["8 4096x4096 RGBA PNG x4"] = pngs
    cases["9 request line of 9 KB"] = partial(ask, "GET", ping + "?pad=" + "a" * 9000, 30)
    cases["9 one 20 KB header"] = partial(ask, "GET", ping, 30, headers={"X-Pad": "a" * 20_000})
    many = {f"X-{i}": "a" for i in range(200)}
    cases["9 200 headers"] = partial(ask, "GET", ping, 30, headers=many)
    cases["9 chunked body of 5 MB"] = chunked
    return cases


def soak(server: Server, seconds: int, warmup: int) -> str:
    """wrk at 16 connections, 3 scorer : 1 explainer : 1 query; memory and /v1/health."""
    digit = requests.get(server.base + "/v1/digits?label=4&offset=3", timeout=30).json()
    body = json.dumps({"input": {"pixels": digit["pixels"]}})
    sql = "SELECT label, count(*) AS n FROM digits_test GROUP BY label ORDER BY label"
    query = ("GET", "/v1/query?" + requests.compat.urlencode({"q": sql}), "")
    mix = [("POST", SCORER, body)] * 3 + [("POST", EXPLAINER, body), query]
    health = Health(server)
    with every(0.25, health.poll):
        run_wrk(server.base, mix, 16, warmup)
        warm = server.rss()
        wrk = run_wrk(server.base, mix, 16, seconds)
        end = server.rss()
    return (
        f"{seconds} s: errors {wrk['errors']}, {wrk['rate']:,.0f} req/s, p99 {wrk['p99']:.0f} ms;"
        f" memory {warm:,.0f} MB after {warmup} s warm-up, {end:,.0f} MB at the end"
        f" ({(end - warm) / warm:+.1%}); {health} (polled every 250 ms)"
    )


def run_cases(title: str, server: Server, cases: Cases, cap_mb: float) -> None:
    """Run cases against one server, then stop it."""
    print(f"{title:<40} {'answers':<44} {'time':>8}  {'peak RSS':>12}")
    try:
        for name, action in cases.items():
            case(name, server, cap_mb, action)
    finally:
        server.stop()


def main() -> None:
    """Copy the database, start the servers, run the cases, check the data, soak."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    db = os.environ.get("MLPAINT_DB", "mlpaint.duckdb")
    parser.add_argument(
        "--db", default=db, help="database to copy (default $MLPAINT_DB or ./%(default)s)"
    )
    parser.add_argument("--soak-seconds", type=int, help="default 60 (10 with --quick)")
    parser.add_argument("--max-server-mb", type=float, default=3000, help="kill a server past it")
    parser.add_argument("--quick", action="store_true", help="short waits and soak: a smoke run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/abuse.py needs wrk: apt-get install -y wrk")
    if not Path(args.db).is_file():
        raise SystemExit(f"no database at {args.db}: give --db or set MLPAINT_DB")
    window, timeout = (6, 30) if args.quick else (20, 120)
    with tempfile.TemporaryDirectory(prefix="mlpaint-abuse-") as folder:
        train_db, ro_db = Path(folder, "training.duckdb"), Path(folder, "read_only.duckdb")
        shutil.copy(args.db, train_db)
        shutil.copy(args.db, ro_db)
        before = counts(train_db)
        print(f"{args.db}: {before[0]:,} digits, {before[1]} models, pinned model {before[2]}")
        trainer = Server(train_db, "--allow-training")
        run_cases("training server", trainer, training_cases(trainer, window), args.max_server_mb)
        after = counts(train_db)
        verdict = "unchanged" if after == before else "CHANGED"
        print(f"  then: {after[0]:,} digits, {after[1]} models, pinned model {after[2]}: {verdict}")
        server = Server(ro_db)
        cases = read_only_cases(server, window, timeout)
        seconds = args.soak_seconds or (10 if args.quick else 60)
        cases["soak, 16 connections"] = partial(soak, server, seconds, 2 if args.quick else 5)
        run_cases("read-only server", server, cases, args.max_server_mb)


if __name__ == "__main__":
    main()
