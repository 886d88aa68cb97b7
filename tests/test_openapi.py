"""The OpenAPI document is exact: the real server accepts what it allows and refuses the rest."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from openapi_spec_validator import validate

SCORER = "/v1/functions/scorer/application"
EXPLAINER = "/v1/functions/explainer/application"
CONFIG = Path(__file__).with_name("schemathesis.toml")
METHODS = {"get", "put", "post", "delete", "patch"}


def spec(base: str) -> dict:
    return requests.get(f"{base}/v1/openapi.json", timeout=30).json()


def pixels(base: str, label: int) -> list[int]:
    answer = requests.get(f"{base}/v1/digits", params={"label": label}, timeout=30)
    return answer.json()["pixels"]


def explain(base: str, body: object) -> requests.Response:
    return requests.post(base + EXPLAINER, json=body, timeout=30)


def assert_error(answer: requests.Response, status: int, fragment: str = "") -> None:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["status"] == status and fragment in error["message"]


def short(output: str) -> str:
    """schemathesis's report without its curl lines, which carry 784 pixels each."""
    lines = [line[:300] for line in output.splitlines() if "curl " not in line]
    return "\n".join(lines)[-6000:]


def test_the_document_is_valid_openapi(live_server: str) -> None:
    document = spec(live_server)
    validate(document)
    assert document["openapi"] == "3.0.3"


def test_schemathesis_finds_no_failure(live_server: str, tmp_path: Path) -> None:
    """Every check, on every operation, a few examples each, from a fixed seed."""
    paths = spec(live_server)["paths"]
    paths.pop("/v1/openapi.json")  # schemathesis leaves out the URL it reads the document from
    operations = sum(len(set(item) & METHODS) for item in paths.values())
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color"),
        *("run", f"{live_server}/v1/openapi.json", "--url", live_server, "--checks", "all"),
        *("--phases", "coverage,fuzzing", "--max-examples", "10", "--seed", "1"),
        *("--workers", "2", "--generation-database", "none", "--request-timeout", "30"),
    ]
    try:
        run = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired as exc:  # a liveness bound, not a timing
        pytest.fail(f"schemathesis did not finish within 300 s:\n{short(str(exc.stdout))}")
    output = run.stdout + run.stderr
    assert run.returncode == 0, short(output)
    # It tested every operation of the document, and something in each phase.
    assert f"{operations} selected / {operations} total" in output, short(output)
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated and generated[1] == generated[2] and int(generated[1]) > 100, short(output)


def test_q_is_required(live_server: str) -> None:
    (q,) = [
        p for p in spec(live_server)["paths"]["/v1/query"]["get"]["parameters"] if p["name"] == "q"
    ]
    assert q["required"] is True
    assert_error(requests.get(f"{live_server}/v1/query", timeout=30), 400, "'q'")
    assert_error(requests.get(f"{live_server}/v1/query", params={"q": " "}, timeout=30), 400)


@pytest.mark.parametrize("label", ["", "x", "10", "-1", "05", "3.0", "\u0663"])
def test_digits_refuse_a_label_that_is_not_a_digit(live_server: str, label: str) -> None:
    answer = requests.get(f"{live_server}/v1/digits", params={"label": label}, timeout=30)
    assert_error(answer, 400, "label")


@pytest.mark.parametrize("offset", ["", "x", "-1", "1.5", "\u00b2", "\u0663"])
def test_digits_refuse_an_offset_that_is_not_a_whole_number(live_server: str, offset: str) -> None:
    answer = requests.get(f"{live_server}/v1/digits", params={"offset": offset}, timeout=30)
    assert_error(answer, 400, "offset")  # "²" passes str.isdigit() and once made a 500


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", SCORER, {"GET", "POST"}),
        ("TRACE", "/v1/health", {"GET"}),
        ("PUT", "/v1/models", {"GET"}),
        ("GET", "/v1/models/tiny/activate", {"POST"}),  # not the paint page's GET
        ("POST", "/app.js", {"GET"}),
    ],
)
def test_405_says_which_methods_are_allowed(
    live_server: str, method: str, path: str, allowed: set[str]
) -> None:
    answer = requests.request(method, live_server + path, timeout=30)
    assert_error(answer, 405)
    methods = {m.strip() for m in answer.headers["Allow"].split(",")}
    assert methods - {"HEAD", "OPTIONS"} == allowed


def test_label_inside_input_is_explained(live_server: str) -> None:
    digit = pixels(live_server, 3)
    inside = explain(live_server, {"input": {"pixels": digit, "label": 5}}).json()["output"]
    beside = explain(live_server, {"input": {"pixels": digit}, "label": 5}).json()["output"]
    assert inside["label"] == 5 and inside["explanation"] == beside["explanation"]
    query = {"input": json.dumps({"pixels": digit, "label": 5})}
    got = requests.get(live_server + EXPLAINER, params=query, timeout=30).json()["output"]
    assert got["label"] == 5 and got["explanation"] == beside["explanation"]


def test_the_label_beside_input_wins(live_server: str) -> None:
    digit = pixels(live_server, 3)
    both = {"input": {"pixels": digit, "label": 5}, "label": 7}
    assert explain(live_server, both).json()["output"]["label"] == 7
    query = {"input": json.dumps({"pixels": digit, "label": 5}), "label": "7"}
    got = requests.get(live_server + EXPLAINER, params=query, timeout=30).json()["output"]
    assert got["label"] == 7
    unset = {"input": {"pixels": digit, "label": 5}, "label": None}  # null: not given
    assert explain(live_server, unset).json()["output"]["label"] == 5
    losing = {"input": {"pixels": digit, "label": "five"}, "label": 7}  # still checked
    assert_error(explain(live_server, losing), 400, "label")
    # JSON Schema counts 7.0 as an integer, and so does the server.
    float_label = {"input": {"pixels": digit}, "label": 7.0}
    assert explain(live_server, float_label).json()["output"]["label"] == 7


def test_all_labels_inside_input(live_server: str) -> None:
    body = {"input": {"pixels": pixels(live_server, 9), "all_labels": True}}
    output = explain(live_server, body).json()["output"]
    assert len(output["explanations"]) == 10 and len(output["biases"]) == 10
    assert_error(explain(live_server, {"input": {**body["input"], "all_labels": 1}}), 400)


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        (SCORER, {"input": {"pixels": [0] * 784}, "label": 3}, "'label'"),
        (SCORER, {"input": {"pixels": [0] * 784, "label": 3}}, "'label'"),
        (EXPLAINER, {"input": {"pixels": [0] * 784}, "labels": 3}, "'labels'"),
        (EXPLAINER, {"input": {"pixels": [0] * 784, "colour": "red"}}, "'colour'"),
        (EXPLAINER, {"input": {"pixels": [0] * 784, "image": ""}}, "exactly one"),
        (EXPLAINER, {"input": {"label": 3}}, "exactly one"),
    ],
)
def test_unknown_keys_are_refused(live_server: str, path: str, body: dict, fragment: str) -> None:
    assert_error(requests.post(live_server + path, json=body, timeout=30), 400, fragment)


def test_an_image_that_does_not_decode_is_422(live_server: str) -> None:
    body = {"input": {"image": "data:image/png;base64,aGVsbG8="}}  # "hello"
    assert_error(requests.post(live_server + SCORER, json=body, timeout=30), 422)
