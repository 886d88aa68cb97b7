"""``/v1/digits``: stored examples by label, fold and offset, with a model's answer on them."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
from flask import Blueprint, request

from mlpaint import scoring
from mlpaint.api.errors import APIError, bad_request
from mlpaint.api.inputs import query_digit
from mlpaint.registry import ModelNotFoundError
from mlpaint.serving import serving

bp = Blueprint("digits", __name__, url_prefix="/v1/digits")

WHOLE_NUMBER = re.compile("[0-9]+")
FOLD_VIEWS = {"train": "digits_train", "test": "digits_test"}
# A digit's fold is the view of sql/folds.sql that holds it (the fold rule lives there only);
# databases imported before its macros existed have these views too.
COLUMNS = "id, label, pixels, source, ? AS fold"
BY_ID = " UNION ALL ".join(
    f"SELECT {COLUMNS} FROM {view} WHERE id = ?" for view in FOLD_VIEWS.values()
)


@bp.get("")
def find_digit() -> dict[str, Any]:
    """The ``offset``-th example (by id) of ``label`` in ``fold``; ``offset=random`` picks one.

    Its ``output`` is the scorer's answer on it (``?model=``, default the active model), the
    explainer's with ``?explain=true`` or, for all ten digits, ``?all_labels=true``.
    """
    asked = _asked()
    fold = request.args.get("fold", "test")
    if fold not in FOLD_VIEWS:
        raise bad_request("fold must be 'train' or 'test'")
    label = query_digit("label")
    view = FOLD_VIEWS[fold]  # a fixed name from the table above, never user text
    where, params = ("WHERE label = ?", [label]) if label is not None else ("", [])
    with serving().cursor() as cursor:
        count = cursor.execute(f"SELECT count(*) FROM {view} {where}", params).fetchall()[0][0]
        if count == 0:
            raise APIError(404, f"no {fold} examples match")
        offset = _offset(count)
        rows = cursor.execute(
            f"SELECT {COLUMNS} FROM {view} {where} ORDER BY id LIMIT 1 OFFSET ?",
            [fold, *params, offset],
        ).fetchall()
    return {**_digit(rows[0], asked), "offset": offset, "count": count}


@bp.get("/<int:digit_id>")
def get_digit(digit_id: int) -> dict[str, Any]:
    """One stored digit by id, with ``output`` as for ``find_digit``."""
    asked = _asked()
    with serving().cursor() as cursor:
        params = [value for fold in FOLD_VIEWS for value in (fold, digit_id)]
        rows = cursor.execute(BY_ID, params).fetchall()
    if not rows:
        raise APIError(404, f"no digit with id {digit_id}")
    return _digit(rows[0], asked)


def _asked() -> tuple[str | None, scoring.Explain]:
    """The model (None = the active one) and the explanation the query string asks for."""
    explain: scoring.Explain = "all" if _bool_arg("all_labels") else _bool_arg("explain")
    return request.args.get("model") or None, explain


def _digit(row: tuple[Any, ...], asked: tuple[str | None, scoring.Explain]) -> dict[str, Any]:
    digit_id, label, pixels, source, fold = row
    digit = {"id": digit_id, "label": label, "pixels": pixels, "source": source, "fold": fold}
    return {**digit, "output": _output(np.asarray(pixels, dtype=np.uint8), *asked)}


def _output(
    pixels: np.ndarray, name: str | None, explain: scoring.Explain
) -> dict[str, Any] | None:
    """The model's answer on a stored digit; None when no model exists yet."""
    try:
        loaded = serving().model(name)
    except ModelNotFoundError as exc:
        if name is None:
            return None
        raise APIError(404, str(exc)) from exc
    return scoring.answer(loaded, pixels, explain=explain)


def _bool_arg(name: str) -> bool:
    text = request.args.get(name, "false")
    if text not in ("true", "false"):
        raise bad_request(f"{name} must be true or false")
    return text == "true"


def _offset(count: int) -> int:
    text = request.args.get("offset", "0")
    if text == "random":
        return random.randrange(count)
    if not WHOLE_NUMBER.fullmatch(text):  # ASCII digits only: str.isdigit() takes "²"
        raise bad_request("offset must be a whole number or 'random'")
    offset = int(text)
    if offset >= count:
        raise APIError(404, f"offset {offset} is past the last of {count} examples")
    return offset
