"""Training configs that would write, diverge or run forever are refused, and runs can be cancelled.

Everything runs on real parts: a real DuckDB file, the real ``mlpaint`` command line in a
subprocess, and a real gunicorn training server (``running_server``).
"""

from __future__ import annotations

import json
import lzma
import math
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
import requests

from conftest import SMALLER_CONFIG, running_server
from mlpaint import db, registry
from mlpaint.experiment import ConfigError, ExperimentConfig, load_config
from mlpaint.model import BaggedBoostedTrees, ModelSpec
from mlpaint.preprocess import AugmentSpec
from mlpaint.training import Cancelled, load_rows, train

FEATURES = "SELECT pixels AS features, label FROM digits"
# Each CTE writes while DuckDB binds the statement, which parses as a plain SELECT.
WRITING_INPUTS = {
    "delete digits": f"WITH gone AS (DELETE FROM digits RETURNING 1) {FEATURES}",
    "update digits": f"WITH x AS (UPDATE digits SET label = 0 RETURNING 1) {FEATURES}",
    "insert digits": (
        "WITH x AS (INSERT INTO digits SELECT id + 100000, label, pixels, source FROM digits "
        f"RETURNING 1) {FEATURES}"
    ),
    "pin a model": f"WITH x AS (INSERT INTO pinned_model VALUES ('a', 1) RETURNING 1) {FEATURES}",
    "delete models": f"WITH x AS (DELETE FROM models RETURNING 1) {FEATURES}",
}
WRITING_FOLD = {
    "training_where": "id IN (WITH g AS (DELETE FROM digits RETURNING id) SELECT id FROM g)",
    "testing_where": "true",
}
# Big enough to train for minutes on 3,000 digits: every cancel lands mid-training.
LONG_CONFIG = {
    "input_data": "SELECT id, pixels AS features, label FROM digits",
    "algorithm": {"bags": 8, "max_iter": 5000, "num_leaves": 31, "num_threads": 1},
}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlpaint", *args], capture_output=True, text=True, timeout=300
    )


def database_state(path: Path) -> dict[str, Any]:
    """What a write would change, read from the file with a read-only connection of its own."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return state_of(con)
    finally:
        con.close()


def state_of(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Digits, models, the pin and the stored evaluations, as rows."""
    queries = {
        "digits": "SELECT count(*), sum(label), max(id) FROM digits",
        "models": "SELECT name, version FROM models ORDER BY ALL",
        "active": "SELECT * FROM pinned_model",
        "confusion": "SELECT count(*) FROM model_confusion",
        "predictions": "SELECT count(*) FROM model_predictions",
    }
    return {key: con.execute(sql).fetchall() for key, sql in queries.items()}


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    """A TOML experiment file with top-level string keys and [[folds]]."""
    lines = [f"input_data = {json.dumps(data['input_data'])}"] if "input_data" in data else []
    for fold in data.get("folds", []):
        lines += ["[[folds]]", *(f"{k} = {json.dumps(v)}" for k, v in fold.items())]
    for section in ("algorithm", "augment"):
        if section in data:
            lines += [f"[{section}]", *(f"{k} = {v}" for k, v in data[section].items())]
    path = folder / "experiment.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for(base: str, url: str, done: Any, what: str) -> dict[str, Any]:
    """Poll a run until ``done(state)``; a bounded wait, as a liveness check."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = requests.get(base + url, timeout=10).json()
        if done(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"the run never {what}: {state}")


def training_rounds(state: dict[str, Any]) -> bool:
    return "training round" in state["message"]


# --- bounds --------------------------------------------------------------------------------


def numeric_knobs() -> list[tuple[str, str, Any]]:
    """(section, key, default) of every numeric knob of the model and the augmentation."""
    knobs = [
        ("algorithm", f.name, f.default)
        for f in fields(ModelSpec)
        if f.name != "augment" and not isinstance(f.default, bool)  # switches have no range
    ]
    return knobs + [("augment", f.name, f.default) for f in fields(AugmentSpec)]


@pytest.mark.parametrize(("section", "key", "default"), numeric_knobs())
def test_every_numeric_knob_is_bounded_both_ways(section: str, key: str, default: Any) -> None:
    huge, tiny = (10**12, -(10**12)) if isinstance(default, int) else (1e300, -1e300)
    for value in (huge, tiny):
        with pytest.raises(ConfigError, match=rf"{section}\.{key} = .* out of range"):
            ExperimentConfig.from_dict({section: {key: value}})


@pytest.mark.parametrize(
    ("section", "key"), [(s, k) for s, k, d in numeric_knobs() if isinstance(d, float)]
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_float_knobs_must_be_finite(section: str, key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=rf"{section}\.{key} must be a finite number"):
        ExperimentConfig.from_dict({section: {key: value}})


@pytest.mark.parametrize(
    ("keys", "name"),
    [
        ({"augment": {"copies": 100000}}, "augment.copies"),
        ({"algorithm": {"max_iter": 10**9}}, "algorithm.max_iter"),
        ({"algorithm": {"learning_rate": 1e308}}, "algorithm.learning_rate"),
        ({"preprocess": {"deskew": "yes"}}, "preprocess.deskew"),
    ],
)
def test_the_reported_configs_are_refused_naming_the_key(keys: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
        ExperimentConfig.from_dict(keys)


def test_a_model_stored_under_looser_bounds_still_loads(trained_db: Path) -> None:
    con = duckdb.connect(str(trained_db), read_only=True)
    try:
        blob = bytes(con.execute("SELECT model FROM models WHERE name = 'tiny'").fetchall()[0][0])
    finally:
        con.close()
    magic, body = blob.split(b"\n", 1)
    payload = json.loads(lzma.decompress(body))
    payload["spec"]["algorithm"]["max_iter"] = 100_000  # accepted before the bounds existed
    with pytest.raises(ValueError, match=r"algorithm\.max_iter"):
        ModelSpec.from_dict(**payload["spec"])
    older = magic + b"\n" + lzma.compress(json.dumps(payload).encode())
    model = BaggedBoostedTrees.from_bytes(older)
    assert model.spec.max_iter == 100_000 and model.predict(np.zeros(784, np.uint8)).shape == (1,)


def test_shipped_experiments_stay_valid() -> None:
    from mlpaint.resources import resource_dir

    shipped = sorted(resource_dir("experiments").glob("*.toml"))
    assert len(shipped) >= 2
    for path in shipped:
        config = load_config(path)
        assert ExperimentConfig.from_dict(config.to_dict()) == config


# --- SQL that writes -----------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(WRITING_INPUTS))
def test_writing_input_data_is_refused_in_process_and_writes_nothing(
    trained_db: Path, case: str
) -> None:
    before = database_state(trained_db)
    con = db.connect(trained_db)
    try:
        with pytest.raises(ConfigError, match=r"input_data: read-only: .*(DELETE|UPDATE|INSERT)"):
            train(con, ExperimentConfig.from_dict({"input_data": WRITING_INPUTS[case]}), "x")
    finally:
        con.close()
    assert database_state(trained_db) == before


def test_reading_rows_never_runs_a_writing_function(trained_db: Path) -> None:
    con = db.connect(trained_db)
    try:
        con.execute("CREATE SEQUENCE counter")
        sql = "SELECT id, pixels AS features, label, nextval('counter') AS n FROM digits"
        config = ExperimentConfig.from_dict({"input_data": sql})
        with pytest.raises(ConfigError, match="k: nextval"):
            load_rows(con, config, "id < 10", "k")
        assert con.execute("SELECT nextval('counter')").fetchall() == [(1,)]
    finally:
        con.close()


def test_rows_read_in_a_rolled_back_transaction_then_the_model_is_saved(small_db: Path) -> None:
    con = db.connect(small_db)
    try:
        config = ExperimentConfig.from_dict(SMALLER_CONFIG)
        rows = load_rows(con, config, "id < 10", "k")
        assert len(rows.labels) == 10
        # No transaction is left open: the next one begins and commits normally.
        report = train(con, config, "after", progress=False)
    finally:
        con.close()
    assert database_state(small_db)["models"] == [("after", report.version)]


@pytest.mark.parametrize("case", sorted(WRITING_INPUTS))
def test_cli_refuses_writing_input_data_and_the_file_is_unchanged(
    trained_db: Path, tmp_path: Path, case: str
) -> None:
    before = database_state(trained_db)
    config = write_config(tmp_path, {"input_data": WRITING_INPUTS[case]})
    result = cli("train", "--db", str(trained_db), "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("mlpaint train: input_data: read-only: the statement would")
    assert "Traceback" not in result.stderr and "nothing was written" in result.stderr
    assert database_state(trained_db) == before


def test_cli_refuses_a_writing_fold_predicate(trained_db: Path, tmp_path: Path) -> None:
    before = database_state(trained_db)
    config = write_config(tmp_path, {"folds": [WRITING_FOLD]})
    result = cli("train", "--db", str(trained_db), "--config", str(config))
    assert result.returncode == 2 and "folds[0].training_where" in result.stderr
    assert database_state(trained_db) == before


def test_training_server_refuses_writing_sql_and_unservable_models(trained_db: Path) -> None:
    insert_nan_model(trained_db)
    before = database_state(trained_db)
    bodies = [{"input_data": sql} for sql in WRITING_INPUTS.values()]
    with running_server(trained_db, "--allow-training") as base:
        for body in [*bodies, {"folds": [WRITING_FOLD]}]:
            answer = requests.put(f"{base}/v1/procedures/bad", json=body, timeout=30)
            assert answer.status_code == 400, answer.text
            message = answer.json()["error"]["message"]
            assert message.startswith(("input_data: read-only", "folds[0].training_where"))
        pinned = requests.post(f"{base}/v1/models/diverged/activate", json={}, timeout=30)
        assert pinned.status_code == 409 and "not finite" in pinned.json()["error"]["message"]
    assert database_state(trained_db) == before


# --- models that are not finite ------------------------------------------------------------


def insert_nan_model(path: Path) -> None:
    """A copy of model tiny v1 stored as diverged v1 with NaN metrics, as before the fix."""
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "INSERT INTO models SELECT 'diverged', 1, created_at, config, ?, model, folds, "
            "row_counts, n_trees, size_bytes, seconds, library_versions FROM models "
            "WHERE name = 'tiny' AND version = 1",
            [json.dumps({"n_folds": 1, "test": {"accuracy": 0.1, "log_loss": math.nan}})],
        )
    finally:
        con.close()


def test_save_model_refuses_non_finite_metrics(trained_db: Path) -> None:
    con = db.connect(trained_db)
    try:
        loaded = registry.load_model(con, "tiny")
        record = registry.ModelRecord(
            model=loaded.model,
            config={},
            metrics={"n_folds": 1, "test": {"accuracy": 0.1, "log_loss": math.nan}},
            folds=[],
            row_counts=[],
            confusions=[[[0] * 10] * 10],
            seconds=1.0,
        )
        before = state_of(con)
        with pytest.raises(registry.UnservableModelError, match=r"test\.log_loss = nan"):
            registry.save_model(con, "diverged", record)
        assert state_of(con) == before
    finally:
        con.close()


def test_activate_refuses_a_stored_model_with_non_finite_metrics(trained_db: Path) -> None:
    insert_nan_model(trained_db)
    con = db.connect(trained_db)
    try:
        with pytest.raises(registry.UnservableModelError, match="diverged version 1 cannot"):
            registry.activate(con, "diverged")
        assert con.execute("SELECT count(*) FROM pinned_model").fetchall() == [(0,)]
    finally:
        con.close()
    result = cli("models", "--db", str(trained_db), "activate", "diverged")
    assert result.returncode == 2 and "not finite" in result.stderr
    assert "Traceback" not in result.stderr


# --- cancelling ----------------------------------------------------------------------------


def test_cancelled_callback_stops_training_and_writes_nothing(small_db: Path) -> None:
    before = database_state_or_none(small_db)

    def cancel(fraction: float, message: str) -> None:
        if "round 2/" in message:
            raise Cancelled

    con = db.connect(small_db)
    try:
        with pytest.raises(Cancelled):
            config = ExperimentConfig.from_dict(SMALLER_CONFIG)
            train(con, config, "x", progress=False, on_progress=cancel)
    finally:
        con.close()
    assert database_state_or_none(small_db) == before


def test_a_cancel_after_the_save_is_too_late_and_the_model_stands(small_db: Path) -> None:
    def cancel_at_the_end(fraction: float, message: str) -> None:
        if fraction == 1.0:
            raise Cancelled

    con = db.connect(small_db)
    try:
        config = ExperimentConfig.from_dict(SMALLER_CONFIG)
        report = train(con, config, "kept", progress=False, on_progress=cancel_at_the_end)
    finally:
        con.close()
    assert database_state(small_db)["models"] == [("kept", report.version)]


def database_state_or_none(path: Path) -> Any:
    """The database's state, or its table list when the registry does not exist yet."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        if not db.table_exists(con, "models"):
            return con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
    finally:
        con.close()
    return database_state(path)


def test_delete_cancels_a_run_on_the_server(trained_db: Path) -> None:
    before = database_state(trained_db)
    with running_server(trained_db, "--allow-training") as base:
        started = requests.put(f"{base}/v1/procedures/long", json=LONG_CONFIG, timeout=30)
        url = started.json()["url"]
        wait_for(base, url, training_rounds, "started training")
        answer = requests.delete(base + url, timeout=10)
        assert answer.status_code == 202, answer.text
        assert (
            answer.json()["id"] == started.json()["id"] and "cancelling" in answer.json()["message"]
        )
        state = wait_for(base, url, lambda s: s["state"] != "running", "stopped")
        assert state["state"] == "cancelled" and state["result"] is None
        again = requests.delete(base + url, timeout=10)
        assert again.status_code == 409 and "cancelled" in again.json()["error"]["message"]
        unknown = requests.delete(f"{base}/v1/procedures/long/runs/999", timeout=10)
        assert unknown.status_code == 404 and unknown.json()["error"]["status"] == 404
        listing = requests.get(f"{base}/v1/models", timeout=10).json()
        assert "long" not in {m["name"] for m in listing["models"]}
        # The server is free again: the next run trains and finishes.
        second = requests.put(f"{base}/v1/procedures/next", json=SMALLER_CONFIG, timeout=30)
        assert second.status_code == 202, second.text
        finished = wait_for(base, second.json()["url"], lambda s: s["state"] != "running", "ended")
        assert finished["state"] == "finished"
    after = database_state(trained_db)
    assert after["models"] == sorted([*before["models"], ("next", 1)])
    assert after["digits"] == before["digits"]


def test_ctrl_c_on_train_through_a_server_cancels_the_run(trained_db: Path, tmp_path: Path) -> None:
    before = database_state(trained_db)
    config = write_config(tmp_path, LONG_CONFIG)
    with running_server(trained_db, "--allow-training") as base:
        client = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlpaint",
                "train",
                "--db",
                str(trained_db),
                "--config",
                str(config),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # As a terminal starts it: a suite run in the background (`make test &`, nohup)
            # ignores SIGINT, and a child inherits that, so Ctrl-C would never arrive.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            run_url = "/v1/procedures/experiment/runs/1"
            # Once the run trains, the client has sent its PUT (a Ctrl-C during it waits).
            wait_for(base, run_url, lambda s: "state" in s and training_rounds(s), "started")
            client.send_signal(signal.SIGINT)
            out, err = client.communicate(timeout=150)
        finally:
            if client.poll() is None:
                client.kill()
        assert client.returncode == 130, err
        assert "training through it" in out
        assert err.strip().endswith(
            "mlpaint train: interrupted; the server's run was cancelled and nothing was written"
        )
        state = requests.get(base + run_url, timeout=10).json()
        assert state["state"] == "cancelled"
    assert database_state(trained_db) == before
