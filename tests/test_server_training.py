"""One writer, many readers: training and activation go through a server that holds the file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import SMALLER_CONFIG, running_server

SCORER = "/v1/functions/scorer/application"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlpaint", *args], capture_output=True, text=True, timeout=300
    )


def wait_for_run(base: str, url: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = requests.get(base + url, timeout=10).json()
        if state["state"] != "running":
            return state
        time.sleep(0.2)
    raise AssertionError("the run did not finish")


def score_model(base: str) -> dict:
    answer = requests.post(base + SCORER, json={"input": {"pixels": [0] * 700 + [200] * 84}})
    return answer.json()["output"]["model"]


def test_training_through_the_rest_procedure(trained_db: Path) -> None:
    with running_server(trained_db, "--allow-training") as base:
        assert score_model(base) == {"name": "tiny", "version": 1}
        started = requests.put(f"{base}/v1/procedures/fresh", json=SMALLER_CONFIG, timeout=30)
        assert started.status_code == 202 and started.headers["Location"] == started.json()["url"]
        state = wait_for_run(base, started.json()["url"])
        assert state["state"] == "finished" and state["progress"] == 1.0
        assert 0 < state["result"]["metrics"]["test"]["accuracy"] <= 1
        # The server switched to the new model without a restart, in REST and in SQL.
        assert score_model(base) == {"name": "fresh", "version": 1}
        q = "SELECT avg((fresh_predict(pixels) = ml_predict(pixels))::INT) FROM digits_test"
        assert requests.get(f"{base}/v1/query", params={"q": q}).json()[1] == [1.0]
        activated = requests.post(f"{base}/v1/models/tiny/activate", json={"version": 1})
        assert activated.json()["active"] == {"name": "tiny", "version": 1}
        assert score_model(base) == {"name": "tiny", "version": 1}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"algorithm": {"bags": "five"}}, "bags"),
        ({"unknown_key": 1}, "unknown_key"),
        ({"input_data": "DELETE FROM digits"}, "SELECT"),
        ({"folds": [{"training_where": "no_such_column > 1", "testing_where": "true"}]}, "fold"),
    ],
)
def test_bad_training_configs_are_400(trained_db: Path, body: dict, fragment: str) -> None:
    with running_server(trained_db, "--allow-training") as base:
        answer = requests.put(f"{base}/v1/procedures/bad", json=body, timeout=30)
        assert answer.status_code == 400, answer.text
        assert fragment.lower() in answer.json()["error"]["message"].lower()
        listing = requests.get(f"{base}/v1/models").json()
        assert {m["name"] for m in listing["models"]} == {"tiny", "small2"}


def test_cli_trains_and_activates_through_a_training_server(
    trained_db: Path, tmp_path: Path
) -> None:
    config = tmp_path / "small.toml"
    config.write_text(
        'input_data = "SELECT id, pixels AS features, label FROM digits"\n'
        "[algorithm]\nbags = 1\nmax_iter = 2\nnum_leaves = 7\nnum_threads = 1\n"
    )
    with running_server(trained_db, "--allow-training") as base:
        trained = cli("train", "--db", str(trained_db), "--config", str(config))
        assert trained.returncode == 0, trained.stderr
        assert "training through it" in trained.stdout and "top-1 accuracy" in trained.stdout
        assert score_model(base)["name"] == "small"
        listed = cli("models", "--db", str(trained_db))
        assert listed.returncode == 0 and "* small" in listed.stdout
        activated = cli("models", "--db", str(trained_db), "activate", "small2")
        assert activated.returncode == 0, activated.stderr
        assert score_model(base)["name"] == "small2"


def test_cli_against_a_read_only_server_says_what_to_do(trained_db: Path) -> None:
    with running_server(trained_db):
        trained = cli("train", "--db", str(trained_db))
        assert trained.returncode == 1
        assert "--allow-training" in trained.stderr and "Lock" not in trained.stderr
        activated = cli("models", "--db", str(trained_db), "activate", "small2")
        assert activated.returncode == 1 and "--allow-training" in activated.stderr
        listed = cli("models", "--db", str(trained_db))  # reading beside a reader is fine
        assert listed.returncode == 0 and "tiny" in listed.stdout
        queried = cli(
            "sql", "--db", str(trained_db), "--format", "csv", "SELECT count(*) n FROM digits"
        )
        assert queried.stdout == "n\n3000\n"
    assert not (trained_db.parent / (trained_db.name + ".server.json")).exists()
