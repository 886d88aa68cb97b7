"""``/v1/digits``: stored examples by label, fold and offset, with the active model's verdict."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
from flask import Blueprint, request

from mlpaint.api.errors import APIError, bad_request
from mlpaint.api.functions import score_output, serving
from mlpaint.api.inputs import query_digit
from mlpaint.registry import ModelNotFoundError

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
    """The ``offset``-th example (by id) of ``label`` in ``fold``; ``offset=random`` picks one."""
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
    return {**_digit(rows[0]), "offset": offset, "count": count}


@bp.get("/<int:digit_id>")
def get_digit(digit_id: int) -> dict[str, Any]:
    """One stored digit by id."""
    with serving().cursor() as cursor:
        params = [value for fold in FOLD_VIEWS for value in (fold, digit_id)]
        rows = cursor.execute(BY_ID, params).fetchall()
    if not rows:
        raise APIError(404, f"no digit with id {digit_id}")
    return _digit(rows[0])


def _digit(row: tuple[Any, ...]) -> dict[str, Any]:
    digit_id, label, pixels, source, fold = row
    digit = {"id": digit_id, "label": label, "pixels": pixels, "source": source, "fold": fold}
    try:
        loaded = serving().model()
    except ModelNotFoundError:
        return {**digit, "prediction": None}
    seen = loaded.model.prepare(np.asarray(pixels, dtype=np.uint8))[0]
    return {**digit, "prediction": score_output(loaded, seen)}


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
