"""Bags trained on a real Dask cluster (scheduler and worker processes) equal the local model."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
import tomllib
from dask_processes import DaskProcesses, dask_processes

from conftest import cli, free_port
from mlpaint import registry
from mlpaint.bagtraining import ClusterError
from mlpaint.cluster import check_workers, library_versions

pytestmark = pytest.mark.cluster

BAGGED = """
input_data = "SELECT id, pixels AS features, label FROM digits"
[algorithm]
bags = 3
bag_fraction = 0.6
max_iter = 8
num_leaves = 15
max_depth = 5
seed = 11
num_threads = 2
[preprocess]
deskew = true
[augment]
copies = 1
max_shift = 1
"""


@pytest.fixture
def bagged_config(tmp_path: Path) -> Path:
    path = tmp_path / "bagged.toml"
    path.write_text(BAGGED)
    return path


def fold_scores(db: Path, name: str) -> np.ndarray:
    """The model's scores of the test fold, read-only."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.sql("SELECT pixels FROM digits WHERE is_test_fold(id) ORDER BY id").fetchall()
        return registry.load_model(con, name).model.scores(np.array([r[0] for r in rows]))
    finally:
        con.close()


def _train(db: Path, config: Path, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("train", "--db", str(db), "--config", str(config), "--name", name, *extra)


def test_a_cluster_trains_the_model_a_local_run_trains(
    small_db: Path, bagged_config: Path, cluster: DaskProcesses
) -> None:
    local = _train(small_db, bagged_config, "here")
    remote = _train(small_db, bagged_config, "there", "--dask", cluster.address)
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    assert "bag" in remote.stderr  # progress per bag
    assert np.array_equal(fold_scores(small_db, "here"), fold_scores(small_db, "there"))
    # The workers' copy of the data is gone once training ends.
    assert not list(small_db.parent.glob("mlpaint-bags-*"))


def test_local_cluster_trains_the_same_model(small_db: Path, bagged_config: Path) -> None:
    assert _train(small_db, bagged_config, "here").returncode == 0
    run = _train(small_db, bagged_config, "pool", "--dask", "local:2")
    assert run.returncode == 0, run.stderr
    assert np.array_equal(fold_scores(small_db, "here"), fold_scores(small_db, "pool"))


def test_the_config_names_the_cluster_and_rest_accepts_it(
    small_db: Path, cluster: DaskProcesses, make_client
) -> None:
    config = tomllib.loads(BAGGED) | {"cluster": {"dask": cluster.address}}
    client = make_client(small_db, ALLOW_TRAINING=True)
    started = client.put("/v1/procedures/rest", json=config)
    assert started.status_code == 202, started.get_json()
    run = started.get_json()["url"]
    messages = set()
    state = client.get(run).get_json()
    while state["state"] == "running":
        messages.add(state["message"])
        time.sleep(0.05)
        state = client.get(run).get_json()
    assert state["state"] == "finished", state
    assert any(cluster.address in m for m in messages), messages  # per-bag progress
    client.application.extensions["mlpaint"].close()  # duckdb.close() may be called twice
    assert np.array_equal(fold_scores(small_db, "rest"), _local_scores(small_db))


def _local_scores(db: Path) -> np.ndarray:
    config = db.parent / "local.toml"
    config.write_text(BAGGED)
    assert _train(db, config, "local").returncode == 0
    return fold_scores(db, "local")


def test_a_worker_killed_mid_training_hands_its_bag_to_another(
    small_db: Path, tmp_path: Path
) -> None:
    slow = tmp_path / "slow.toml"
    slow.write_text(BAGGED.replace("max_iter = 8", "max_iter = 60").replace("bags = 3", "bags = 4"))
    with dask_processes(2) as processes:
        command = [sys.executable, "-m", "mlpaint", "train", "--db", str(small_db)]
        command += ["--config", str(slow), "--name", "survivor", "--dask", processes.address]
        run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed = processes.kill_busy_worker()
        _, err = run.communicate(timeout=600)
    assert killed in {"w0", "w1"}
    con = duckdb.connect(str(small_db), read_only=True)
    try:
        versions = con.sql("SELECT count(*) FROM models WHERE name = 'survivor'").fetchall()[0][0]
    finally:
        con.close()
    if run.returncode == 0:  # the scheduler moved the bag to the surviving worker
        assert versions == 1
        assert _train(small_db, slow, "local").returncode == 0
        assert np.array_equal(fold_scores(small_db, "survivor"), fold_scores(small_db, "local"))
    else:  # or it failed cleanly: one line, nothing written
        assert "nothing was written" in err and "Traceback" not in err
        assert versions == 0


def test_an_unreachable_scheduler_is_one_line_and_writes_nothing(
    small_db: Path, bagged_config: Path
) -> None:
    run = _train(small_db, bagged_config, "nowhere", "--dask", f"tcp://127.0.0.1:{free_port()}")
    assert run.returncode == 1
    assert "cannot reach the Dask scheduler" in run.stderr and "Traceback" not in run.stderr
    con = duckdb.connect(str(small_db), read_only=True)
    try:
        assert con.sql("FROM duckdb_tables() WHERE table_name = 'models'").fetchall() == []
    finally:
        con.close()


def test_a_bad_address_is_refused_before_anything_runs(small_db: Path, bagged_config: Path) -> None:
    run = _train(small_db, bagged_config, "bad", "--dask", "http://example.com")
    assert run.returncode == 2
    assert "cluster.dask" in run.stderr


def test_workers_that_cannot_see_the_data_are_named(cluster: DaskProcesses, tmp_path: Path) -> None:
    with cluster.client() as client, pytest.raises(ClusterError) as caught:
        check_workers(client, str(tmp_path / "missing.duckdb"))
    message = str(caught.value)
    assert "cannot read the training data at" in message and "missing.duckdb" in message
    assert "tcp://127.0.0.1:" in message  # which worker


def test_workers_with_other_library_versions_are_refused(cluster: DaskProcesses) -> None:
    with cluster.client() as client:
        assert len(check_workers(client, None)) == 2  # the same versions pass
        other = {**library_versions(), "lightgbm": "0.0.1"}
        with pytest.raises(ClusterError, match=r"has lightgbm .* \(this machine: 0\.0\.1\)"):
            check_workers(client, None, expected=other)


def test_a_shared_dir_that_cannot_be_written_is_one_line(
    small_db: Path, bagged_config: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run = _train(small_db, bagged_config, "x", "--dask", "local:1", "--shared-dir", str(blocker))
    assert run.returncode == 1
    assert "cannot write the training data for the workers to" in run.stderr
    assert "nothing was written" in run.stderr and "Traceback" not in run.stderr


def test_the_cluster_table_round_trips_and_is_kept_only_when_named() -> None:
    from mlpaint.experiment import ExperimentConfig

    plain = ExperimentConfig.from_dict(tomllib.loads(BAGGED))
    assert "cluster" not in plain.to_dict()
    named = ExperimentConfig.from_dict(
        tomllib.loads(BAGGED) | {"cluster": {"dask": "local:3", "shared_dir": "/mnt/x"}}
    )
    assert ExperimentConfig.from_dict(named.to_dict()) == named
    assert named.spec == plain.spec  # where it trains is not part of the model
