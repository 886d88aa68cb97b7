"""One bag trained data-parallel with lightgbm.dask on a LocalCluster joins a bagged model."""

from __future__ import annotations

import pytest
from mnist_slice import load_slice

from mlpaint.dataparallel import train_bag_data_parallel
from mlpaint.model import BaggedBoostedTrees, ModelSpec

pytestmark = pytest.mark.cluster


def test_a_bag_trained_across_two_workers_reads_digits() -> None:
    import dask.array as da
    from distributed import Client, LocalCluster

    pixels, labels = load_slice(3000)
    test_pixels, test_labels = load_slice(1000, offset=3000)
    spec = ModelSpec.from_dict({"bags": 1, "max_iter": 15, "num_leaves": 15, "seed": 3})
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        x = da.from_array(pixels, chunks=(1500, 784)).persist()  # half the rows on each worker
        y = da.from_array(labels, chunks=1500).persist()
        booster = train_bag_data_parallel(client, x, y, spec)
    model = BaggedBoostedTrees(spec, [booster])
    assert booster.num_trees() == 15 * 10
    assert (model.predict(test_pixels) == test_labels).mean() > 0.85
