"""One row through a LightGBM booster by LightGBM's single-row fast path, for one request.

``Booster.predict`` checks and converts its input and sets a predictor up on every call. For
the one row of a scorer request that setup costs about a third of what walking the served
model's 3,000 trees does. LightGBM's C API sets it up once
(``LGBM_BoosterPredictForMatSingleRowFastInit``) and then scores each row with one call
(``LGBM_BoosterPredictForMatSingleRowFast``). The same trees and the same C++ walk them, so the
numbers are exactly ``Booster.predict``'s. LightGBM locks the booster around the call itself, so
a server's threads may share one predictor.
"""

from __future__ import annotations

import ctypes
import weakref
from typing import Literal

import lightgbm
import numpy as np

# LightGBM's Python package loads its library and checks its calls with these; it exposes no
# public wrapper of the single-row fast path.
from lightgbm.basic import _LIB, _safe_call

_PREDICT_TYPES = {"raw": 1, "leaf": 2}  # C_API_PREDICT_RAW_SCORE, C_API_PREDICT_LEAF_INDEX
_FLOAT32 = 0  # C_API_DTYPE_FLOAT32
_DOUBLES = ctypes.POINTER(ctypes.c_double)

Kind = Literal["raw", "leaf"]


class RowPredictor:
    """``booster.predict(row, raw_score=True)`` or ``(row, pred_leaf=True)`` for one row, fast."""

    def __init__(self, booster: lightgbm.Booster, kind: Kind) -> None:
        """Set the fast path up once; ``kind`` is ``"raw"`` margins or ``"leaf"`` indices."""
        self._booster = booster  # the fast config points into the booster: keep it alive
        self.n_features = booster.num_feature()
        per_round = booster.num_model_per_iteration()
        self.width = booster.num_trees() if kind == "leaf" else per_round
        handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_TYPES[kind]),
                ctypes.c_int(0),  # from the first round
                ctypes.c_int(-1),  # to the last
                ctypes.c_int(_FLOAT32),
                ctypes.c_int32(self.n_features),
                b"num_threads=1",
                ctypes.byref(handle),
            )
        )
        self._handle = handle
        weakref.finalize(self, _LIB.LGBM_FastConfigFree, handle)

    def __call__(self, row: np.ndarray) -> np.ndarray:
        """(width,) float64: the row's raw margins, or each tree's leaf index."""
        x = np.ascontiguousarray(row, dtype=np.float32).reshape(-1)
        if len(x) != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got {len(x)}")
        out = np.empty(self.width, dtype=np.float64)
        written = ctypes.c_int64()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFast(
                self._handle,
                x.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(written),
                out.ctypes.data_as(_DOUBLES),
            )
        )
        return out
