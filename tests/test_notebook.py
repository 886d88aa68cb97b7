"""The notebook and its widgets' Python side: scoring in the kernel, and the notebook run top to
bottom by nbclient in a real kernel. The widgets in a browser: tests/test_notebook_browser.py."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import duckdb
import nbformat
import numpy as np
import pytest
import traitlets
from nbclient import NotebookClient
from PIL import Image, ImageDraw

from mlpaint import db
from mlpaint.notebook import Explorer, Paint, figures, uncertainty
from mlpaint.notebook.widgets import bundle, web_modules
from mlpaint.resources import resource_dir

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "mlpaint.ipynb"
LAST_OUTPUT = "Draw a digit above, then run this cell again."
ONE = [[(0.56, 0.12 + 0.76 * i / 16) for i in range(17)]]
SEVEN = [
    [(0.2 + 0.6 * i / 12, 0.15) for i in range(13)]
    + [(0.8 - 0.35 * i / 16, 0.15 + 0.75 * i / 16) for i in range(1, 17)]
]


def png_data_url(strokes: list[list[tuple[float, float]]], size: int = 140) -> str:
    """Strokes drawn black on white, as the canvas sends them."""
    image = Image.new("L", (size, size), 255)
    pen = ImageDraw.Draw(image)
    for stroke in strokes:
        pen.line([(x * size, y * size) for x, y in stroke], fill=0, width=size // 14)
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def copy_of(path: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / path.name).write_bytes(path.read_bytes())
    return folder / path.name


# --- In the kernel: the widgets' Python side, with a real tiny model -------------------------


def test_uncertainty_is_normalised_entropy() -> None:
    assert uncertainty(np.eye(10)[3]) == 0.0
    assert uncertainty(np.full(10, 0.1)) == pytest.approx(1.0)
    halves = np.zeros(10)
    halves[[1, 7]] = 0.5
    assert uncertainty(halves) == pytest.approx(np.log(2) / np.log(10))
    # Two sure bags that disagree: as unsure as one bag split evenly between their digits.
    assert uncertainty(np.eye(10)[[1, 7]]) == pytest.approx(np.log(2) / np.log(10))


def test_paint_reads_a_drawing_as_the_rest_explainer_does(
    trained_db: Path, tmp_path: Path, make_client
) -> None:
    image = png_data_url(SEVEN)
    rest = make_client(trained_db).post(
        "/v1/functions/explainer/application",
        json={"input": {"image": image}, "all_labels": True},
    )
    assert rest.status_code == 200, rest.get_json()
    expected = rest.get_json()["output"]
    # The app holds the file with its own settings: the widget reads an identical copy.
    paint = Paint(copy_of(trained_db, tmp_path / "copy"))
    assert paint.pixels is None
    paint.drawing = {"seq": 1, "image": image}
    shown = paint.result
    assert shown["seq"] == 1
    assert shown["prediction"] == expected["prediction"]
    assert shown["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)
    values = np.frombuffer(shown["explanations"], dtype="<f4").reshape(10, 784)
    assert values == pytest.approx(np.asarray(expected["explanations"]), abs=1e-5)
    assert np.frombuffer(shown["seen"], np.uint8).tolist() == expected["pixels"]
    assert paint.pixels is not None and paint.pixels.shape == (28, 28)
    assert shown["model"] == f"{expected['model']['name']} v{expected['model']['version']}"
    assert shown["uncertainty"] == pytest.approx(expected["uncertainty"], abs=1e-9)
    assert shown["is_digit"] == expected["is_digit"]


def test_paint_blank_and_broken_drawings(trained_db: Path) -> None:
    paint = Paint(trained_db)
    paint.drawing = {"seq": 1, "image": png_data_url(ONE)}
    assert paint.pixels is not None
    paint.drawing = {"seq": 2, "image": ""}  # cleared canvas
    assert paint.result == {"seq": 2} and paint.pixels is None
    paint.drawing = {"seq": 3, "image": png_data_url([])}  # white, no ink
    assert paint.result == {"seq": 3} and paint.pixels is None
    paint.drawing = {"seq": 4, "image": "data:image/png;base64,AAAA"}
    assert paint.result["seq"] == 4 and "not an image" in paint.result["error"]
    assert paint.pixels is None
    paint.close()  # releases the file: a writer may open it again in this process
    duckdb.connect(str(trained_db)).close()


def test_explorer_follows_digit_offset_and_model(trained_db: Path) -> None:
    con = duckdb.connect(str(trained_db), read_only=True)
    try:
        ids = [
            r[0]
            for r in con.sql("SELECT id FROM digits_test WHERE label = 7 ORDER BY id").fetchall()
        ]
        explorer = Explorer(con, digit=7, offset=2)
        assert (explorer.result["id"], explorer.result["label"]) == (ids[2], 7)
        assert explorer.count == len(ids)
        assert explorer.result["model"] == "tiny v1"  # the active model
        assert [m["value"] for m in explorer.models] == ["tiny:1", "small2:1"]
        explorer.offset = 10_000  # past the last 7: the last one
        assert explorer.offset == len(ids) - 1 and explorer.result["id"] == ids[-1]
        tiny = explorer.result["probabilities"]
        explorer.model_choice = "small2:1"
        assert explorer.result["model"] == "small2 v1"
        assert explorer.result["probabilities"] != pytest.approx(tiny)
        explorer.digit = 0
        assert explorer.result["label"] == 0 and explorer.reading is not None
        with pytest.raises(traitlets.TraitError):
            explorer.digit = 10
    finally:
        con.close()


def test_widget_on_a_path_this_kernel_holds_says_what_to_do(trained_db: Path) -> None:
    con = duckdb.connect(str(trained_db))  # the notebook's own, read-write connection
    try:
        with pytest.raises(db.DatabaseBusyError, match="pass that connection instead"):
            Paint(trained_db)
        assert Paint(con).loaded.name == "tiny"  # its connection works
    finally:
        con.close()


def test_widgets_carry_the_web_modules_they_import() -> None:
    modules = web_modules()
    names = list(modules)
    assert {"canvas.js", "heatmap.js"} <= set(names)
    for position, name in enumerate(names):  # every module after the ones it imports
        for dependency in re.findall(r"""from\s*["']\./([\w.-]+\.js)["']""", modules[name]):
            assert names.index(dependency) < position, (name, dependency)
    esm = bundle("paint.js")
    assert esm.count("export default") == 1 and "class PaintCanvas" in esm


def test_figure_colours_are_the_paint_pages() -> None:
    source = (resource_dir("web") / "heatmap.js").read_text(encoding="utf-8")
    for name, colour in (("FOR", figures.TOWARD), ("AGAINST", figures.AGAINST)):
        found = re.search(rf"const {name} = \[(\d+), (\d+), (\d+)\]", source)
        assert found and tuple(map(int, found.groups())) == colour


def test_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


# --- The notebook top to bottom in a real kernel ---------------------------------------------


def test_notebook_runs_top_to_bottom(
    small_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLPAINT_DB", str(small_db))  # the kernel inherits it
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # a failing cell raises CellExecutionError
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    widgets = [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    # Random digits, mean digits, confusion matrix, one explanation, where the model looks.
    assert len(images) == 5
    assert len(widgets) >= 2  # Explorer and Paint (DuckDB may add progress bars)
    text = "".join(o.get("text", "") for o in outputs)
    assert "scoring with small version 1" in text and LAST_OUTPUT in text
    con = duckdb.connect(str(small_db), read_only=True)
    try:
        assert con.sql("SELECT name FROM models").fetchall() == [("small",)]
    finally:
        con.close()
