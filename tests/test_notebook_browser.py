"""The notebook's widgets in a real browser: JupyterLab on loopback, the notebook opened in
Debian's Chromium with Playwright, every cell run; draw on Paint, change Explorer's digit.
Screenshots go to artifacts/notebook/."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Page, sync_playwright
from test_notebook import LAST_OUTPUT, NOTEBOOK, ONE, SEVEN

from conftest import train_tiny, write_idx_pair
from jupyter_lab import (
    CHROMIUM,
    CHROMIUM_ARGS,
    draw_strokes,
    jupyter_lab,
    open_notebook,
    run_all,
    run_cell,
)
from mlpaint.importer import import_digits

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "notebook"
LAB_DIGITS = 10_000
# Reads drawn 1s and 7s, trains in seconds; one thread (two thrash on a busy 2-core machine).
LAB_CONFIG = {
    "description": "the browser test's default model",
    "input_data": "SELECT id, pixels AS features, label FROM digits",
    "algorithm": {"bags": 1, "max_iter": 40, "num_leaves": 31, "learning_rate": 0.2, "seed": 1}
    | {"feature_fraction": 0.5, "num_threads": 1},
    "preprocess": {"deskew": True},
}
COLOURS_JS = """(canvas) => {
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const n = {green: 0, red: 0};
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 1] > d[i] + 30 && d[i + 1] > d[i + 2] + 30) n.green++;
    if (d[i] > d[i + 1] + 30 && d[i] > d[i + 2] + 30) n.red++;
  }
  return n;
}"""


@pytest.fixture(scope="module")
def lab_db(tmp_path_factory: pytest.TempPathFactory, mnist_train: tuple) -> Path:
    """10,000 MNIST digits and a `default` model good enough to read drawn digits."""
    images, labels = mnist_train
    folder = tmp_path_factory.mktemp("lab")
    source = write_idx_pair(folder, images[:LAB_DIGITS], labels[:LAB_DIGITS], "train")
    db = folder / "lab.duckdb"
    import_digits(db, [str(source)], progress=False)
    train_tiny(db, "default", LAB_CONFIG)
    return db


@pytest.fixture(scope="module")
def first_test_ids(lab_db: Path) -> dict[int, int]:
    """The first test digit of each label, read before the notebook's kernel holds the file."""
    con = duckdb.connect(str(lab_db), read_only=True)
    try:
        return dict(con.sql("SELECT label, min(id) FROM digits_test GROUP BY label").fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def lab_page(
    lab_db: Path, first_test_ids: dict[int, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Page]:
    """The notebook open in JupyterLab, every cell run; screenshots and page errors checked."""
    root = tmp_path_factory.mktemp("lab-root")
    (root / NOTEBOOK.name).write_bytes(NOTEBOOK.read_bytes())
    errors: list[str] = []
    with jupyter_lab(root, {"MLPAINT_DB": str(lab_db)}) as lab, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        SHOTS.mkdir(parents=True, exist_ok=True)
        try:
            open_notebook(page, lab, NOTEBOOK.name)
            run_all(page, LAST_OUTPUT)
            yield page
        finally:
            page.screenshot(path=SHOTS / "notebook.png", full_page=True)
            browser.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def canvas_colours(page: Page, selector: str) -> dict[str, int]:
    return page.locator(selector).evaluate(COLOURS_JS)


def wait_read(page: Page, since: float) -> None:
    """Wait for the heatmap of the finished drawing (drawn after the pointer went up)."""
    page.wait_for_function(
        "(since) => { const d = document.querySelector('.mlpaint-paint').dataset;"
        " return +d.pointerUpAt > since && +d.heatmapPaintedAt > +d.pointerUpAt; }",
        arg=since,
        timeout=30_000,
    )


def test_paint_reads_a_drawn_one_and_seven(lab_page: Page) -> None:
    page = lab_page
    widget = page.locator(".mlpaint-paint")
    for digit, strokes in (("1", ONE), ("7", SEVEN)):
        widget.locator("button:text-is('Clear')").click()
        page.wait_for_function("document.querySelector('.mlpaint-paint').dataset.state === 'idle'")
        wait_read(page, draw_strokes(page, widget.locator(".mp-canvas"), strokes))
        assert widget.get_attribute("data-prediction") == digit
        assert widget.get_attribute("data-state") == "ready"
        assert (widget.locator(".mp-prediction").text_content() or "") == digit
        heat = canvas_colours(page, ".mlpaint-paint .mp-heatmap")
        assert heat["green"] > 20, heat
        for d in range(10):
            small = canvas_colours(page, f".mlpaint-paint .mp-small[data-digit='{d}']")
            assert small["green"] + small["red"] > 0, (d, small)
        probabilities = widget.locator(".mp-bar").evaluate_all(
            "bars => bars.map(b => +b.dataset.probability)"
        )
        assert sum(probabilities) == pytest.approx(1, abs=1e-3)
        assert max(probabilities) == probabilities[int(digit)]
        widget.screenshot(path=SHOTS / f"paint-{digit}.png")
    # widget.pixels back in Python: the notebook's last cell runs SQL on the drawing.
    last = page.locator(".jp-Notebook .jp-CodeCell").last
    run_cell(page, last)
    tables = last.locator(".jp-OutputArea-output table")
    assert tables.count() == 2, last.locator(".jp-OutputArea").text_content()
    assert tables.nth(0).locator("td").all_text_contents() == ["7"]  # ml_predict in SQL
    assert tables.nth(1).locator("tbody tr").count() == 5  # the five nearest training digits


def test_explorer_shows_the_chosen_digit(lab_page: Page, first_test_ids: dict[int, int]) -> None:
    page = lab_page
    widget = page.locator(".mlpaint-explorer")
    widget.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('.mlpaint-explorer').dataset.label === '3'")

    def picture() -> str:
        data = widget.locator(".mp-digit").evaluate(
            "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
        )
        return hashlib.sha256(bytes(data)).hexdigest()

    before = picture()
    widget.locator(".mp-slider").first.fill("5")
    page.wait_for_function("document.querySelector('.mlpaint-explorer').dataset.label === '5'")
    assert widget.get_attribute("data-id") == str(first_test_ids[5])
    assert picture() != before
    heat = canvas_colours(page, ".mlpaint-explorer .mp-heatmap")
    assert heat["green"] > 20, heat
    widget.screenshot(path=SHOTS / "explorer.png")
