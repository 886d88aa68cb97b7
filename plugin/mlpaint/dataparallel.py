"""One bag trained data-parallel across Dask workers (``lightgbm.dask``), for a bag too big for one.

Not used by default: each bag is one task on one worker (``mlpaint.cluster``). When one bag's rows
outgrow a worker's memory, load them as a Dask array partitioned over the workers and train that
bag's booster here; the result joins a ``BaggedBoostedTrees`` like any other bag's booster.
"""

from __future__ import annotations

from typing import Any

import lightgbm

from mlpaint.model import ModelSpec

# Parameters lightgbm.dask sets itself (the network between workers) or that mean nothing there.
_LOCAL_ONLY = ("num_threads", "deterministic", "force_col_wise", "objective", "num_class")


def train_bag_data_parallel(
    client: Any, pixels: Any, labels: Any, spec: ModelSpec, bag: int = 0
) -> lightgbm.Booster:
    """Train bag ``bag``'s booster on Dask arrays ``pixels`` (n, 784) and ``labels`` (n,)."""
    import lightgbm.dask as lgb_dask  # needs dask.distributed: mlpaint[cluster]

    params = {k: v for k, v in spec.lightgbm_params(bag).items() if k not in _LOCAL_ONLY}
    model = lgb_dask.DaskLGBMClassifier(
        client=client, n_estimators=spec.max_iter, tree_learner="data", **params
    )
    model.fit(pixels.astype("float32"), labels)
    return model.booster_
