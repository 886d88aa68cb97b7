"""Load against the real server on loopback: scorer and explainer throughput and latency, soak.

Usage: python bench/serve.py [--db PATH] [--seconds N] [--soak-seconds N]
Scorer and single-connection explainer figures are the median of three runs of N seconds.
Starts `mlpaint serve` on the database's active model and drives it with wrk (Debian's `wrk`
package), which costs far less CPU than a Python client on a 2-core machine. Prints requests/s,
p50, p99 and errors for each load (after the CPU one answer costs in process, which drifts less
than requests/s on a shared machine), then a mixed soak (scorer, explainer, query) with the
server's memory after warm-up and at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

LUA = """
wrk.headers["Content-Type"] = "application/json"
local methods = {{ {methods} }}
local paths = {{ {paths} }}
local bodies = {{ {bodies} }}
local i = 0
request = function()
  i = i + 1
  local k = (i % #paths) + 1
  return wrk.format(methods[k], paths[k], nil, bodies[k])
end
"""
Request = tuple[str, str, str]  # method, path, body


def lua_strings(values: list[str]) -> str:
    """Lua long-bracket string literals, comma-separated."""
    return ", ".join("[==[" + value + "]==]" for value in values)


def start_server(db: str | None, port: int) -> subprocess.Popen[str]:
    """Start `mlpaint serve` and wait until it answers."""
    args = [sys.executable, "-m", "mlpaint", "serve", "--port", str(port)]  # default workers
    process = subprocess.Popen([*args, *(["--db", db] if db else [])], text=True)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def rss_mb(pid: int) -> float:
    """Resident memory of a server, in MB: the gunicorn master and its worker processes."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for process in [pid, *map(int, children)]:
        status = Path(f"/proc/{process}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+)", status)
        total += int(match.group(1)) if match else 0
    return total / 1024


def run_wrk(base: str, requests: list[Request], connections: int, seconds: int) -> dict:
    """Drive ``requests`` round-robin; return requests/s, p50, p99 (ms) and errors."""
    script = LUA.format(
        methods=lua_strings([r[0] for r in requests]),
        paths=lua_strings([r[1] for r in requests]),
        bodies=lua_strings([r[2] for r in requests]),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s"]
    out = subprocess.run(
        [*command, "--latency", "-s", handle.name, base], capture_output=True, text=True, check=True
    ).stdout
    Path(handle.name).unlink()
    return parse_wrk(out)


def parse_wrk(out: str) -> dict:
    """Pick requests/s, p50, p99 and error counts out of wrk's report."""

    def millis(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        if not match:
            return float("nan")
        return float(match.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(2)]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "rate": float(rate.group(1)) if rate else 0.0,
        "p50": millis("50%"),
        "p99": millis("99%"),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(map(int, socket.groups())) if socket else 0),
    }


def median_of_runs(base: str, requests: list[Request], connections: int, seconds: int) -> dict:
    """Three runs of a load (these machines are noisy); the run with the median rate."""
    runs = sorted(
        (run_wrk(base, requests, connections, seconds) for _ in range(3)),
        key=lambda figures: figures["rate"],
    )
    return {**runs[1], "rates": [round(r["rate"]) for r in runs]}


def show(title: str, figures: dict, bar: str) -> None:
    """Print one load's figures."""
    rates = f"  runs {figures['rates']} req/s" if "rates" in figures else ""
    print(
        f"  {title:<34} {figures['rate']:8,.0f} req/s  p50 {figures['p50']:6.1f} ms  "
        f"p99 {figures['p99']:6.1f} ms  errors {figures['errors']}  ({bar}){rates}"
    )


def soak(base: str, pid: int, mix: list[Request], seconds: int) -> None:
    """Mixed load at 16 connections; the server's memory after warm-up and at the end."""
    run_wrk(base, mix, 16, 5)  # warm-up
    warm = rss_mb(pid)
    figures = run_wrk(base, mix, 16, seconds)
    end = rss_mb(pid)
    print(f"\nsoak: {seconds} s at 16 connections, 3 scorer : 1 explainer : 1 query")
    show("mixed load, 16 connections", figures, "bar: zero errors")
    print(
        f"  server memory: {warm:.0f} MB after warm-up, {end:.0f} MB at the end "
        f"({(end - warm) / warm:+.1%}; bar: within 10%)"
    )


def answer_cost(path: str | None) -> None:
    """The CPU one answer costs in process (median over test digits): firmer than req/s here."""
    import numpy as np

    from mlpaint import db, registry, scoring
    from mlpaint.sources import read_vendored

    con = db.connect(path, read_only=True)
    try:
        loaded = registry.load_model(con)
    finally:
        con.close()
    digits = read_vendored()[1].pixels
    loads = (("scorer", 500, False), ("explainer", 200, True), ("explainer, all ten", 50, "all"))
    for title, rows, explain in loads:
        scoring.answer(loaded, digits[0], explain=explain)  # the first call builds caches
        took = []
        for digit in digits[:rows]:
            started = time.perf_counter()
            scoring.answer(loaded, digit, explain=explain)
            took.append(time.perf_counter() - started)
        print(f"  {title} answer in process, median of {rows} digits: "
              f"{1e3 * float(np.median(took)):.2f} ms")  # fmt: skip


def main() -> None:
    """Run the loads and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database (default: $MLPAINT_DB or ./mlpaint.duckdb)")
    parser.add_argument("--port", type=int, default=8311)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--soak-seconds", type=int, default=60)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/serve.py needs wrk: apt-get install -y wrk")
    answer_cost(args.db)
    server = start_server(args.db, args.port)
    base = f"http://127.0.0.1:{args.port}"
    try:
        models = json.load(urllib.request.urlopen(f"{base}/v1/models"))
        active = next(m for m in models["models"] if m["active"])
        print(
            f"model {active['name']} v{active['version']}: {active['n_trees']} trees; "
            f"server pid {server.pid} (gunicorn, default workers and threads); "
            "wrk on loopback, same 2 cores"
        )
        digit = json.load(urllib.request.urlopen(f"{base}/v1/digits?label=4&offset=3"))
        body = json.dumps({"input": {"pixels": digit["pixels"]}})
        scorer = ("POST", "/v1/functions/scorer/application", body)
        explainer = ("POST", "/v1/functions/explainer/application", body)
        sql = "SELECT label, count(*) AS n FROM digits_test GROUP BY label ORDER BY label"
        query = ("GET", "/v1/query?" + urllib.parse.urlencode({"q": sql}), "")
        run_wrk(base, [scorer], 8, 3)  # warm-up
        run_wrk(base, [explainer], 8, 3)
        show(
            "scorer, 8 connections",
            median_of_runs(base, [scorer], 8, args.seconds),
            "bar >= 1,500 req/s, p99 <= 20 ms",
        )
        show(
            "explainer, 1 connection",
            median_of_runs(base, [explainer], 1, args.seconds),
            "bar p50 <= 30 ms, p99 <= 100 ms",
        )
        show("explainer, 8 connections", run_wrk(base, [explainer], 8, args.seconds), "throughput")
        soak(base, server.pid, [scorer, scorer, scorer, explainer, query], args.soak_seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
