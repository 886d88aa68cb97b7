"""Paint page latency in a real Chromium: pointer-up -> heatmap painted, over varied drawings.

Usage: python bench/paint.py [--url URL | --db PATH] [--drawings N] [--screenshot PNG]
Without --url it starts `mlpaint serve` on --db (default ./mlpaint.duckdb) and its active
model; with no such database (or no model in it) it builds a temporary one: all of MNIST
imported, a small deskewing model trained on the first 20,000 digits. Each drawing is a digit
0-9 drawn with real mouse strokes at a random size, place and slant; the page stamps
performance.now() at pointer-up and when the heatmap of the finished drawing is painted.
Also saves a 1280x900 screenshot of the page with a drawn digit (docs/paint.png).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
Stroke = list[tuple[float, float]]


def line(*points: tuple[float, float], n: int = 12) -> Stroke:
    """A polyline through ``points``, ``n`` steps per segment."""
    out = [points[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        out += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(1, n + 1)]
    return out


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 28) -> Stroke:
    """An elliptic arc from angle a0 to a1 in degrees (screen axes: 90 is straight down)."""
    angles = [math.radians(a0 + (a1 - a0) * i / n) for i in range(n + 1)]
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


# Each digit in a unit box, stroke by stroke, the way a hand writes it.
DIGITS: dict[int, list[Stroke]] = {
    0: [arc(0.5, 0.5, 0.32, 0.45, 270, -110, n=40)],  # a full turn and a bit, anticlockwise
    1: [line((0.56, 0.05), (0.44, 0.95))],
    2: [arc(0.5, 0.3, 0.28, 0.22, 190, 400) + line((0.7, 0.45), (0.18, 0.92), (0.85, 0.9))[1:]],
    3: [arc(0.5, 0.28, 0.27, 0.2, 210, 450) + arc(0.5, 0.7, 0.3, 0.22, 270, 500)[1:]],
    4: [line((0.28, 0.05), (0.2, 0.58), (0.85, 0.58)), line((0.66, 0.12), (0.64, 0.95))],
    5: [line((0.8, 0.08), (0.3, 0.08), (0.28, 0.46)) + arc(0.5, 0.66, 0.3, 0.26, 225, 500)[1:]],
    6: [line((0.68, 0.05), (0.33, 0.42), (0.25, 0.7)) + arc(0.5, 0.7, 0.25, 0.22, 180, 540)[1:]],
    7: [line((0.15, 0.1), (0.85, 0.1), (0.4, 0.95))],
    8: [arc(0.5, 0.27, 0.22, 0.2, 90, 450), arc(0.5, 0.7, 0.27, 0.23, 270, 630)],
    9: [arc(0.5, 0.3, 0.25, 0.22, 360, 0) + line((0.75, 0.3), (0.7, 0.95))[1:]],
}


def place(strokes: list[Stroke], rng: random.Random) -> list[Stroke]:
    """The digit at a random size and spot, slanted a little, with a shaky hand."""
    side, slant = rng.uniform(0.35, 0.85), math.radians(rng.uniform(-12, 12))
    left, top = rng.uniform(0.02, 0.98 - side), rng.uniform(0.02, 0.98 - side)

    def move(x: float, y: float) -> tuple[float, float]:
        x, y = x - 0.5, y - 0.5
        x, y = x * math.cos(slant) - y * math.sin(slant), x * math.sin(slant) + y * math.cos(slant)
        jitter = rng.gauss(0, 0.004), rng.gauss(0, 0.004)
        return left + side * (0.5 + x) + jitter[0], top + side * (0.5 + y) + jitter[1]

    return [[move(x, y) for x, y in stroke] for stroke in strokes]


def draw(page: Page, strokes: list[Stroke]) -> dict:
    """Draw with real mouse events; return the page's stamps once the heatmap is painted."""
    since = page.evaluate("performance.now()")
    r = page.locator("#paint").bounding_box()
    assert r is not None
    for stroke in strokes:
        points = [(r["x"] + x * r["width"], r["y"] + y * r["height"]) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=2)
        page.mouse.up()
    page.wait_for_function(
        "(t) => { const m = window.mlpaint; return m.pointerUpAt > t && "
        "m.heatmapPaintedAt > m.pointerUpAt; }",
        arg=since,
        timeout=60_000,
    )
    return page.evaluate(
        "() => { const m = window.mlpaint; return {ms: m.heatmapPaintedAt - m.pointerUpAt, "
        "cached: m.lastCached, prediction: m.lastResult.prediction}; }"
    )


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(db: Path) -> Iterator[str]:
    """`mlpaint serve` on ``db``; yields its URL once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "mlpaint", "serve", "--db", str(db), "--port", str(port)]
    # Its own process group: should the server hang on exit, killing the group takes its workers.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/v1/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("the server did not start within 60 s")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def has_model(db: Path) -> bool:
    """Whether ``db`` exists and holds a trained model."""
    if not db.exists():
        return False
    import duckdb

    from mlpaint import db as mldb
    from mlpaint import registry

    con = duckdb.connect(str(db), read_only=True)
    try:
        return mldb.table_exists(con, "models") and bool(registry.list_models(con))
    finally:
        con.close()


def build_temporary(folder: Path) -> Path:
    """All of MNIST and the stand-in model (experiments/standin.toml) the browser tests use."""
    import duckdb

    from mlpaint import training
    from mlpaint.experiment import load_config
    from mlpaint.importer import import_digits
    from mlpaint.resources import resource_dir

    config = load_config(resource_dir("experiments") / "standin.toml")
    path = folder / "paint.duckdb"
    started = time.perf_counter()
    import_digits(path, progress=False)
    con = duckdb.connect(str(path))
    try:
        training.train(con, config, "paint", progress=False)
    finally:
        con.close()
    print(f"  built in {time.perf_counter() - started:.0f} s: {config.description}")
    return path


def active_model(url: str) -> dict:
    """The active model's registry entry (name, version, n_trees, ...)."""
    with urllib.request.urlopen(f"{url}/v1/models", timeout=30) as reply:
        registry = json.load(reply)
    active = registry["active"]
    return next(
        m
        for m in registry["models"]
        if (m["name"], m["version"]) == (active["name"], active["version"])
    )


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated."""
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def measure(url: str, drawings: int, screenshot: Path, chromium: str) -> None:
    """Draw ``drawings`` digits, print the latency figures, save the screenshot."""
    rng = random.Random(7)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.wait_for_function("document.querySelector('#model-select').value !== ''")
        for digit in (3, 8):  # warm-up: first requests load the model, JIT the page
            draw(page, place(DIGITS[digit], rng))
            page.keyboard.press("Escape")
        results = []
        for i in range(drawings):
            digit = i % 10
            results.append({**draw(page, place(DIGITS[digit], rng)), "digit": digit})
            page.keyboard.press("Escape")
        report(results)
        draw(page, place_fixed(DIGITS[2]))
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=screenshot)
        print(f"screenshot: {screenshot}")
        browser.close()


def place_fixed(strokes: list[Stroke]) -> list[Stroke]:
    """A big, centred digit for the screenshot."""
    return [[(0.14 + 0.72 * x, 0.14 + 0.72 * y) for x, y in stroke] for stroke in strokes]


def report(results: list[dict]) -> None:
    """Print p50, p90 and max latency, overall and for answers the page had to fetch."""
    ms = [r["ms"] for r in results]
    fetched = [r["ms"] for r in results if not r["cached"]]
    right = sum(r["prediction"] == r["digit"] for r in results)
    print(f"pointer-up -> heatmap painted over {len(ms)} drawings (ms)")
    for label, values in (("all", ms), ("fetched at pointer-up", fetched)):
        if len(values) >= 2:
            print(
                f"  {label:22} n={len(values):3}  p50 {percentile(values, 50):7.1f}  "
                f"p90 {percentile(values, 90):7.1f}  max {max(values):7.1f}"
            )
    print(f"  {len(ms) - len(fetched)} of {len(ms)} reused the last live answer (same image)")
    wrong = ", ".join(
        f"{r['digit']}->{r['prediction']}" for r in results if r["prediction"] != r["digit"]
    )
    print(
        f"  read as the digit drawn: {right} of {len(ms)}"
        + (f" (misread: {wrong})" if wrong else "")
    )


def main() -> None:
    """Parse arguments, find or start a server, measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one on --db)")
    parser.add_argument("--db", type=Path, default=Path("mlpaint.duckdb"))
    parser.add_argument("--drawings", type=int, default=30)
    parser.add_argument("--screenshot", type=Path, default=ROOT / "docs" / "paint.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.url:
            url_context = nullserver(args.url)
        elif has_model(args.db):
            url_context = server(args.db)
        else:
            print(f"{args.db}: missing or without a model; building a temporary database")
            url_context = server(build_temporary(Path(folder)))
        with url_context as url:
            model = active_model(url)
            print(f"model {model['name']} v{model['version']}: {model['n_trees']} trees at {url}")
            measure(url, args.drawings, args.screenshot, args.chromium)


@contextmanager
def nullserver(url: str) -> Iterator[str]:
    """A server someone else runs."""
    yield url.rstrip("/")


if __name__ == "__main__":
    main()
