"""The notebook's Paint widget in JupyterLab and Chromium: pointer-up -> heatmap drawn.

Usage: python bench/notebook.py [--db PATH] [--drawings N] [--screenshot PNG]
Starts JupyterLab on loopback in a temporary folder holding examples/mlpaint.ipynb and a copy
of --db (default $MLPAINT_DB, else ./mlpaint.duckdb), which must hold the `default` model
(`mlpaint train`, or `make demo`). Runs the cells that open the database, pick the model and
show Paint, then draws digits 0-9 with real mouse strokes at random sizes, places and slants
(bench/paint.py's). The widget stamps performance.now() when the pointer lifts and when the
heatmap of that finished drawing is painted; their difference is the figure printed. Also saves
a screenshot of the widget with a drawn digit (docs/notebook-paint.png).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

from paint import DIGITS, has_model, percentile, place, place_fixed
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from jupyter_lab import (  # noqa: E402  (tests/ holds the JupyterLab driver the tests use)
    CHROMIUM_ARGS,
    draw_strokes,
    jupyter_lab,
    open_notebook,
    run_cell,
)

NOTEBOOK = ROOT / "examples" / "mlpaint.ipynb"
# The cells Paint needs, found by their text: open the database, choose the model, show Paint.
CELLS = ("import_digits(path", "TRAIN = ", "paint = Paint(")
READ_JS = """(since) => { const d = document.querySelector('.mlpaint-paint').dataset;
  return +d.pointerUpAt > since && +d.heatmapPaintedAt > +d.pointerUpAt; }"""


def draw(page: Page, strokes: list) -> dict:
    """Clear, draw, wait for the finished drawing's heatmap; return latency and prediction."""
    widget = page.locator(".mlpaint-paint")
    widget.locator("button:text-is('Clear')").click()
    page.wait_for_function("document.querySelector('.mlpaint-paint').dataset.state === 'idle'")
    since = draw_strokes(page, widget.locator(".mp-canvas"), strokes)
    page.wait_for_function(READ_JS, arg=since, timeout=60_000)
    stamps = widget.evaluate("el => ({...el.dataset})")
    return {
        "ms": float(stamps["heatmapPaintedAt"]) - float(stamps["pointerUpAt"]),
        "prediction": int(stamps["prediction"]),
    }


def measure(page: Page, drawings: int, screenshot: Path) -> None:
    """Draw ``drawings`` digits after a warm-up, print the figures, save the screenshot."""
    rng = random.Random(7)
    for digit in (3, 8):  # warm-up: the first readings load code paths in the kernel and page
        draw(page, place(DIGITS[digit], rng))
    results = []
    for i in range(drawings):
        digit = i % 10
        results.append({**draw(page, place(DIGITS[digit], rng)), "digit": digit})
    ms = [r["ms"] for r in results]
    right = sum(r["prediction"] == r["digit"] for r in results)
    print(f"pointer-up -> heatmap drawn, in the notebook, over {len(ms)} drawings (ms)")
    print(
        f"  p50 {percentile(ms, 50):7.1f}  p90 {percentile(ms, 90):7.1f}  max {max(ms):7.1f}"
        f"   (read as the digit drawn: {right} of {len(ms)})"
    )
    draw(page, place_fixed(DIGITS[7]))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.locator(".mlpaint-paint").screenshot(path=screenshot)
    print(f"screenshot: {screenshot}")


def main() -> None:
    """Parse arguments, start JupyterLab on a copy of the database, measure."""
    from mlpaint.db import default_db_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=default_db_path())
    parser.add_argument("--drawings", type=int, default=30)
    parser.add_argument("--screenshot", type=Path, default=ROOT / "docs" / "notebook-paint.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if not has_model(args.db):
        raise SystemExit(f"{args.db}: missing or without a model; run `mlpaint train` first")
    with tempfile.TemporaryDirectory(prefix="mlpaint-bench-") as folder:
        root = Path(folder)
        shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
        db = shutil.copy(args.db, root / "bench.duckdb")  # the notebook may write to it
        with jupyter_lab(root, {"MLPAINT_DB": str(db)}) as lab, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            open_notebook(page, lab, NOTEBOOK.name)
            for text in CELLS:
                run_cell(page, page.locator(".jp-CodeCell", has_text=text).first, 300_000)
            print(
                page.locator(".jp-CodeCell", has_text=CELLS[1])
                .first.locator(".jp-OutputArea")
                .text_content()
            )
            measure(page, args.drawings, args.screenshot)
            browser.close()


if __name__ == "__main__":
    main()
