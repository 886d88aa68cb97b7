"""The OpenAPI document is exact: the app accepts what it allows and refuses the rest.

In process (Flask's test client, and schemathesis over the WSGI app), with one schemathesis run
through the real gunicorn server, whose own request-line limit answers 414.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig
from werkzeug.test import TestResponse

SCORER = "/v1/functions/scorer/application"
EXPLAINER = "/v1/functions/explainer/application"
CONFIG = Path(__file__).with_name("schemathesis.toml")
METHODS = {"get", "put", "post", "delete", "patch"}


def spec(client: FlaskClient) -> dict:
    return client.get("/v1/openapi.json").json


def pixels(client: FlaskClient, label: int) -> list[int]:
    return client.get("/v1/digits", query_string={"label": label}).json["pixels"]


def explain(client: FlaskClient, body: object) -> TestResponse:
    return client.post(EXPLAINER, json=body)


def assert_error(answer: TestResponse, status: int, fragment: str = "") -> None:
    assert answer.status_code == status, answer.text
    error = answer.json["error"]
    assert error["status"] == status and fragment in error["message"]


def test_the_document_is_valid_openapi(client: FlaskClient) -> None:
    document = spec(client)
    validate(document)
    assert document["openapi"] == "3.0.3"


@pytest.fixture(scope="module")
def app_schema(app: Flask) -> schemathesis.BaseSchema:
    """The document, read from the app in process, with tests/schemathesis.toml's settings."""
    return schemathesis.openapi.from_wsgi(
        "/v1/openapi.json", app, config=SchemathesisConfig.from_path(CONFIG)
    )


@pytest.fixture
def tried(client: FlaskClient) -> Iterator[Counter]:
    """The cases schemathesis ran, by operation; afterwards, each operation had some."""
    paths = spec(client)["paths"]
    paths.pop("/v1/openapi.json")  # schemathesis leaves out the URL it reads the document from
    operations = {
        f"{m.upper()} {path}" for path, item in paths.items() for m in set(item) & METHODS
    }
    cases: Counter = Counter()
    yield cases
    assert set(cases) == operations, cases
    assert sum(cases.values()) > 100, cases


@schemathesis.pytest.from_fixture("app_schema").parametrize()
def test_schemathesis_finds_no_failure(case: schemathesis.Case, tried: Counter) -> None:
    """Every check, on every operation, coverage and fuzzing, in process."""
    tried[case.operation.label] += 1
    case.call_and_validate()


@pytest.fixture(scope="module")
def served_schema(live_server: str) -> schemathesis.BaseSchema:
    """The document, read from the real server, with tests/schemathesis.toml's settings."""
    config = SchemathesisConfig.from_path(CONFIG)
    return schemathesis.openapi.from_url(f"{live_server}/v1/openapi.json", config=config)


@pytest.fixture
def statuses() -> Iterator[Counter]:
    """The codes the real server answered; afterwards, gunicorn's own 414 was among them."""
    codes: Counter = Counter()
    yield codes
    assert codes[414] > 0, codes


# The GET function calls only: their input is in the URL, where gunicorn limits its length.
@(
    schemathesis.pytest.from_fixture("served_schema")
    .include(method="GET", path_regex="^/v1/functions/")
    .parametrize()
)
def test_schemathesis_through_gunicorn(case: schemathesis.Case, statuses: Counter) -> None:
    """Inputs in the URL, long ones too: gunicorn's 414 is in the document as well."""
    statuses[case.call_and_validate(timeout=30).status_code] += 1


def test_q_is_required(client: FlaskClient) -> None:
    (q,) = [p for p in spec(client)["paths"]["/v1/query"]["get"]["parameters"] if p["name"] == "q"]
    assert q["required"] is True
    assert_error(client.get("/v1/query"), 400, "'q'")
    assert_error(client.get("/v1/query", query_string={"q": " "}), 400)


@pytest.mark.parametrize("label", ["", "x", "10", "-1", "05", "3.0", "\u0663"])
def test_digits_refuse_a_label_that_is_not_a_digit(client: FlaskClient, label: str) -> None:
    answer = client.get("/v1/digits", query_string={"label": label})
    assert_error(answer, 400, "label")


@pytest.mark.parametrize("offset", ["", "x", "-1", "1.5", "\u00b2", "\u0663"])
def test_digits_refuse_an_offset_that_is_not_a_whole_number(
    client: FlaskClient, offset: str
) -> None:
    answer = client.get("/v1/digits", query_string={"offset": offset})
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
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    answer = client.open(path, method=method)
    assert_error(answer, 405)
    methods = {m.strip() for m in answer.headers["Allow"].split(",")}
    assert methods - {"HEAD", "OPTIONS"} == allowed


def test_label_inside_input_is_explained(client: FlaskClient) -> None:
    digit = pixels(client, 3)
    inside = explain(client, {"input": {"pixels": digit, "label": 5}}).json["output"]
    beside = explain(client, {"input": {"pixels": digit}, "label": 5}).json["output"]
    assert inside["label"] == 5 and inside["explanation"] == beside["explanation"]
    query = {"input": json.dumps({"pixels": digit, "label": 5})}
    got = client.get(EXPLAINER, query_string=query).json["output"]
    assert got["label"] == 5 and got["explanation"] == beside["explanation"]


def test_the_label_beside_input_wins(client: FlaskClient) -> None:
    digit = pixels(client, 3)
    both = {"input": {"pixels": digit, "label": 5}, "label": 7}
    assert explain(client, both).json["output"]["label"] == 7
    query = {"input": json.dumps({"pixels": digit, "label": 5}), "label": "7"}
    got = client.get(EXPLAINER, query_string=query).json["output"]
    assert got["label"] == 7
    unset = {"input": {"pixels": digit, "label": 5}, "label": None}  # null: not given
    assert explain(client, unset).json["output"]["label"] == 5
    losing = {"input": {"pixels": digit, "label": "five"}, "label": 7}  # still checked
    assert_error(explain(client, losing), 400, "label")
    # JSON Schema counts 7.0 as an integer, and so does the server.
    float_label = {"input": {"pixels": digit}, "label": 7.0}
    assert explain(client, float_label).json["output"]["label"] == 7


def test_all_labels_inside_input(client: FlaskClient) -> None:
    body = {"input": {"pixels": pixels(client, 9), "all_labels": True}}
    output = explain(client, body).json["output"]
    assert len(output["explanations"]) == 10 and len(output["biases"]) == 10
    assert_error(explain(client, {"input": {**body["input"], "all_labels": 1}}), 400)


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
def test_unknown_keys_are_refused(
    client: FlaskClient, path: str, body: dict, fragment: str
) -> None:
    assert_error(client.post(path, json=body), 400, fragment)


def test_an_image_that_does_not_decode_is_422(client: FlaskClient) -> None:
    body = {"input": {"image": "data:image/png;base64,aGVsbG8="}}  # "hello"
    assert_error(client.post(SCORER, json=body), 422)
