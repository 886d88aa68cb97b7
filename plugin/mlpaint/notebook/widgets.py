"""Jupyter widgets on anywidget: ``Explorer`` (test digits) and ``Paint`` (draw, read live).

They run in JupyterLab, Notebook 7 and VS Code without a build step: anywidget loads each
widget's ES module from a string. The drawing canvas and the heatmap painting are the paint
page's own modules from ``web/``, carried inside that string and linked in the browser.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import anywidget
import duckdb
import numpy as np
import traitlets as t

from mlpaint import db, images
from mlpaint.notebook.scoring import (
    SIDE,
    ModelShelf,
    Reading,
    find_test_digit,
    parse_choice,
    read_digit,
    read_drawing,
    to_view,
)
from mlpaint.resources import resource_dir

_HERE = Path(__file__).resolve().parent
# A relative import between web/ modules, as `shared.js` rewrites it in the browser.
_IMPORT = re.compile(r"""\b(?:from|import)\s*["']\./([\w.-]+\.js)["']""")
WEB_ENTRIES = ("canvas.js", "heatmap.js")


def web_modules(entries: tuple[str, ...] = WEB_ENTRIES) -> dict[str, str]:
    """The text of the web/ modules ``entries`` need, each after the modules it imports."""
    folder = resource_dir("web")
    ordered: dict[str, str] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            raise ValueError(f"web/{name}: circular import through {' -> '.join(trail)}")
        if name in ordered:
            return
        text = (folder / name).read_text(encoding="utf-8")
        for dependency in _IMPORT.findall(text):
            visit(dependency, (*trail, name))
        ordered[name] = text

    for entry in entries:
        visit(entry, ())
    return ordered


def bundle(widget: str) -> str:
    """One ES module: the web/ sources as data, ``shared.js``, then the widget's own module."""
    parts = [
        f"const WEB_MODULES = {json.dumps(web_modules())};",
        (_HERE / "shared.js").read_text(encoding="utf-8"),
        (_HERE / widget).read_text(encoding="utf-8"),
    ]
    return "\n".join(parts)


def connection(
    database: duckdb.DuckDBPyConnection | str | os.PathLike[str] | None,
) -> duckdb.DuckDBPyConnection:
    """A cursor of the notebook's connection, or a read-only one to a path (None = default)."""
    if isinstance(database, duckdb.DuckDBPyConnection):
        # A cursor: the widget's queries never disturb a result the notebook is reading.
        return database.cursor()
    try:
        return db.connect(database, read_only=True)
    except db.DatabaseBusyError as exc:
        if "this process" not in str(exc):
            raise  # another process holds it: the message says which
        raise db.DatabaseBusyError(
            f"{database}: open in this kernel already; pass that connection instead of the path"
        ) from exc


class _DatabaseWidget(anywidget.AnyWidget):
    """A widget reading the database through a connection of its own, closed with it."""

    def __init__(self, database: duckdb.DuckDBPyConnection | str | os.PathLike[str] | None) -> None:
        super().__init__()
        self._con = connection(database)

    def close(self) -> None:
        """Close the widget (in every view) and its database connection."""
        super().close()
        self._con.close()


class Explorer(_DatabaseWidget):
    """A test digit chosen by label and offset, its SHAP map, the ten probabilities."""

    _esm = bundle("explorer.js")
    _css = _HERE / "widgets.css"

    digit = t.Int(0).tag(sync=True)
    offset = t.Int(0).tag(sync=True)
    count = t.Int(0).tag(sync=True)
    model_choice = t.Unicode("").tag(sync=True)
    models = t.List().tag(sync=True)
    result = t.Dict().tag(sync=True)

    def __init__(
        self,
        database: duckdb.DuckDBPyConnection | str | os.PathLike[str] | None = None,
        *,
        digit: int = 0,
        offset: int = 0,
        model: str | None = None,
        version: int | None = None,
    ) -> None:
        """Open on ``database`` (the notebook's connection, or a path) and show one digit."""
        super().__init__(database)
        self._shelf = ModelShelf(self._con)
        first = self._shelf.get(model, version)
        self.reading: Reading | None = None
        with self.hold_trait_notifications():
            self.models = self._shelf.choices()
            self.model_choice = f"{first.name}:{first.version}"
            self.digit, self.offset = digit, offset
        self._update()

    @t.validate("digit")
    def _check_digit(self, proposal: t.Bunch) -> int:
        if not 0 <= proposal.value <= 9:
            raise t.TraitError(f"digit must be 0..9, got {proposal.value}")
        return proposal.value

    @t.observe("digit", "offset", "model_choice")
    def _changed(self, _: t.Bunch) -> None:
        self._update()

    def _update(self) -> None:
        """Read the chosen test digit with the chosen model and publish the view."""
        found = find_test_digit(self._con, self.digit, self.offset)
        loaded = self._shelf.get(*parse_choice(self.model_choice))
        self.reading = read_digit(loaded, found["pixels"])
        view = to_view(self.reading, label=self.digit)
        with self.hold_trait_notifications():
            self.count = found["count"]
            if found["offset"] != self.offset:
                self.offset = found["offset"]  # clamped: the observer runs once more, a no-op
            self.result = {**view, "id": found["id"], "offset": found["offset"]}


class Paint(_DatabaseWidget):
    """A canvas to draw on, read and explained live by a model in this kernel (no server).

    ``pixels`` is the drawing, normalised as the REST scorer does (28x28 uint8, 0 = paper).
    """

    _esm = bundle("paint.js")
    _css = _HERE / "widgets.css"

    drawing = t.Dict().tag(sync=True)  # {"seq", "image": PNG data URL or ""} from the browser
    result = t.Dict().tag(sync=True)  # the reading of drawing["seq"], or an empty/error state

    def __init__(
        self,
        database: duckdb.DuckDBPyConnection | str | os.PathLike[str] | None = None,
        *,
        model: str | None = None,
        version: int | None = None,
    ) -> None:
        """Open on ``database`` with ``model`` (default: the active one)."""
        super().__init__(database)
        self.loaded = ModelShelf(self._con).get(model, version)
        self.reading: Reading | None = None

    @property
    def pixels(self) -> np.ndarray | None:
        """The drawing as the model's input, (28, 28) uint8 0..255; None while blank."""
        return None if self.reading is None else self.reading.pixels.reshape(SIDE, SIDE)

    @t.observe("drawing")
    def _drawn(self, change: t.Bunch) -> None:
        request = change.new
        seq, image = request.get("seq", 0), request.get("image", "")
        state: dict[str, Any] = {"seq": seq}
        self.reading = None
        try:
            self.reading = read_drawing(self.loaded, image) if image else None
        except images.EmptyImageError:
            pass  # a blank canvas: nothing to read, nothing wrong
        except images.ImageError as exc:
            state["error"] = str(exc)
        except Exception as exc:  # shown in the widget: a canvas waiting forever helps nobody
            state["error"] = f"could not read the drawing: {type(exc).__name__}: {exc}"
        if self.reading is not None:
            state.update(to_view(self.reading))
        self.result = state
