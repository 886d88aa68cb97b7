"""The REST API in process (Flask's test client) over a real database with real tiny models.

Two tests go through the real gunicorn server as well: a GET scorer call, whose 784 pixels must
fit gunicorn's request-line limit, and the paint page's files and errors.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import requests
from flask.testing import FlaskClient
from PIL import Image, ImageDraw
from werkzeug.test import TestResponse

SCORER = "/v1/functions/scorer/application"
EXPLAINER = "/v1/functions/explainer/application"


def post(client: FlaskClient, path: str, body: object) -> TestResponse:
    return client.post(path, json=body)


def digit_pixels(client: FlaskClient, label: int = 3, offset: int = 0) -> list[int]:
    answer = client.get("/v1/digits", query_string={"label": label, "offset": offset})
    return answer.json["pixels"]


def data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def drawn_one(size: int = 280, dark_on_light: bool = True) -> Image.Image:
    image = Image.new("L", (size, size), 255 if dark_on_light else 0)
    ImageDraw.Draw(image).line(
        [(size * 0.5, size * 0.15), (size * 0.5, size * 0.85)],
        fill=0 if dark_on_light else 255,
        width=max(2, size // 14),
    )
    return image


def assert_error(response: TestResponse | requests.Response, status: int) -> dict:
    """The one JSON error shape, from the test client or from the real server."""
    assert response.status_code == status, response.text
    error = json.loads(response.text)["error"]
    assert error["status"] == status and isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    return error


def test_scorer_with_pixels(client: FlaskClient) -> None:
    pixels = digit_pixels(client)
    output = post(client, SCORER, {"input": {"pixels": pixels}}).json["output"]
    assert 0 <= output["prediction"] <= 9 and output["runner_up"] != output["prediction"]
    assert len(output["probabilities"]) == 10 and len(output["scores"]) == 10
    assert sum(output["probabilities"]) == pytest.approx(1, abs=1e-5)
    assert output["confidence"] == pytest.approx(max(output["probabilities"]))
    assert output["prediction"] == int(np.argmax(output["scores"]))
    assert output["pixels"] == pixels  # the active tiny model does not deskew
    assert output["model"] == {"name": "tiny", "version": 1}


def test_scorer_get_with_query_input(live_server: str) -> None:
    # Through gunicorn: a GET with 784 pixels in its URL fits the server's request-line limit.
    digit = requests.get(f"{live_server}/v1/digits", params={"label": 7, "offset": 0}, timeout=30)
    pixels = digit.json()["pixels"]
    got = requests.get(
        live_server + SCORER, params={"input": json.dumps({"pixels": pixels})}, timeout=30
    )
    posted = requests.post(live_server + SCORER, json={"input": {"pixels": pixels}}, timeout=30)
    assert got.status_code == 200 and got.json() == posted.json()


def test_scorer_with_a_named_model_returns_deskewed_pixels(client: FlaskClient) -> None:
    pixels = digit_pixels(client, 4)
    output = post(client, SCORER, {"input": {"pixels": pixels}, "model": "small2"}).json
    seen = output["output"]["pixels"]
    assert output["output"]["model"]["name"] == "small2"
    assert len(seen) == 784 and seen != pixels  # small2 deskews its input


@pytest.mark.parametrize("dark_on_light", [True, False])
@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_scorer_with_an_image(client: FlaskClient, dark_on_light: bool, mode: str) -> None:
    image = drawn_one(dark_on_light=dark_on_light)
    if mode == "RGBA":  # a canvas snapshot: ink on a transparent background
        rgba = Image.new("RGBA", image.size, (0, 0, 0, 0))
        ink = image if not dark_on_light else Image.eval(image, lambda v: 255 - v)
        rgba.putalpha(ink)
        image = rgba
    output = post(client, SCORER, {"input": {"image": data_url(image)}}).json["output"]
    seen = np.array(output["pixels"]).reshape(28, 28)
    rows, cols = np.nonzero(seen > 30)
    assert seen.max() == 255 and rows.max() - rows.min() <= 20
    assert 10 <= cols.mean() <= 17  # a vertical stroke, centred


def test_explainer_adds_up(client: FlaskClient) -> None:
    pixels = digit_pixels(client, 2)
    output = post(client, EXPLAINER, {"input": {"pixels": pixels}}).json["output"]
    assert output["label"] == output["prediction"]
    assert len(output["explanation"]) == 784
    assert output["bias"] + sum(output["explanation"]) == pytest.approx(output["score"], abs=1e-4)
    assert output["score"] == pytest.approx(output["scores"][output["label"]], abs=1e-6)
    chosen = post(client, EXPLAINER, {"input": {"pixels": pixels}, "label": 5}).json
    assert chosen["output"]["label"] == 5
    assert "explanations" not in chosen["output"]


def test_a_loaded_model_is_ready_before_its_first_request(make_client, trained_db: Path) -> None:
    # A worker that split its trees by digit on its first explanation kept that request
    # waiting about a second on the default (the explainer's p99 in bench/serve.py).
    client = make_client(trained_db)
    state = client.application.extensions["mlpaint"]
    active = state._refs[None]  # loaded with the SQL functions, at start-up
    loaded = state._models[active]
    assert {"class_boosters", "_row_path", "_leaves_of_row"} <= vars(loaded.model).keys()
    # The other models serve their SQL functions; start-up does not pay for their trees.
    others = [each for ref, each in state._models.items() if ref != active]
    assert others and all("class_boosters" not in vars(each.model) for each in others)
    built = vars(loaded.model)
    answer = post(client, EXPLAINER, {"input": {"pixels": digit_pixels(client)}})
    assert answer.status_code == 200
    assert vars(loaded.model)["class_boosters"] is built["class_boosters"]


def test_explainer_all_labels(client: FlaskClient) -> None:
    pixels = digit_pixels(client, 9)
    output = post(client, EXPLAINER, {"input": {"pixels": pixels}, "all_labels": True}).json[
        "output"
    ]
    values, biases = np.array(output["explanations"]), np.array(output["biases"])
    assert values.shape == (10, 784) and biases.shape == (10,)
    assert np.allclose(biases + values.sum(axis=1), output["scores"], atol=1e-4)


def test_query_formats(client: FlaskClient) -> None:
    q = "SELECT label, count(*) AS n FROM digits_test GROUP BY label ORDER BY label"
    table = client.get("/v1/query", query_string={"q": q}).json
    assert table[0] == ["label", "n"] and len(table) == 11
    records = client.get("/v1/query", query_string={"q": q, "format": "json"}).json
    assert records[0] == {"label": 0, "n": table[1][1]}
    csv = client.get("/v1/query", query_string={"q": q, "format": "csv"})
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "label,n"


def test_query_with_ml_functions_and_limits(client: FlaskClient) -> None:
    q = "SELECT id, ml_predict(pixels) AS p, tiny_probabilities(pixels)[1] AS p0 FROM digits_test"
    answer = client.get("/v1/query", query_string={"q": q, "limit": 5})
    assert answer.status_code == 200 and len(answer.json) == 6
    assert answer.headers["X-Truncated"] == "true"
    default = client.get("/v1/query", query_string={"q": "SELECT * FROM range(5000)"})
    assert len(default.json) == 1001 and default.headers["X-Row-Limit"] == "1000"
    assert_error(client.get("/v1/query", query_string={"q": q, "limit": 10**9}), 400)


@pytest.mark.parametrize(
    ("sql", "status"),
    [
        ("DELETE FROM digits", 403),
        ("CREATE TABLE x AS SELECT 1", 403),
        ("ATTACH '/tmp/other.duckdb'", 403),
        ("INSTALL httpfs", 403),
        ("COPY digits TO '/tmp/out.csv'", 403),
        ("SET enable_external_access = true", 403),
        ("SELECT * FROM read_csv('/etc/passwd')", 400),
        ("SELECT * FROM read_text('/etc/hostname')", 400),
        ("SELECT 1; SELECT 2", 400),
        ("SELEC 1", 400),
        ("SELECT * FROM no_such_table", 400),
        ("SELECT ml_predict([1, 2])", 400),
        ("SELECT count(*) FROM range(1000000000000)", 408),
    ],
)
def test_query_is_read_only_and_bounded(client: FlaskClient, sql: str, status: int) -> None:
    assert_error(client.get("/v1/query", query_string={"q": sql}), status)


def test_the_database_is_untouched_by_queries(client: FlaskClient) -> None:
    count = client.get("/v1/query", query_string={"q": "SELECT count(*) FROM digits"})
    assert count.json == [["count_star()"], [3000]]


def test_models(client: FlaskClient) -> None:
    listing = client.get("/v1/models").json
    assert listing["active"] == {"name": "tiny", "version": 1}
    assert {m["name"] for m in listing["models"]} == {"tiny", "small2"}
    info = client.get("/v1/models/tiny").json
    assert info["active"] is True and info["config"]["algorithm"]["bags"] == 2
    matrix = np.array(info["confusion"][0])
    assert matrix.shape == (10, 10) and matrix.sum() == info["row_counts"][0]["test"]
    assert_error(client.get("/v1/models/nope"), 404)
    assert_error(client.get("/v1/models/tiny", query_string={"version": 9}), 404)


def test_activation_needs_a_training_server(client: FlaskClient) -> None:
    error = assert_error(client.post("/v1/models/small2/activate"), 403)
    assert "--allow-training" in error["message"]


def test_digits(client: FlaskClient) -> None:
    first = client.get("/v1/digits", query_string={"label": 5, "fold": "test"}).json
    assert first["label"] == 5 and first["fold"] == "test" and first["offset"] == 0
    assert len(first["pixels"]) == 784 and first["count"] > 20
    assert 0 <= first["output"]["prediction"] <= 9
    second = client.get("/v1/digits", query_string={"label": 5, "offset": 1}).json
    assert second["id"] > first["id"]
    randomly = client.get("/v1/digits", query_string={"offset": "random"}).json
    assert 0 <= randomly["offset"] < randomly["count"]
    by_id = client.get(f"/v1/digits/{first['id']}").json
    assert by_id["pixels"] == first["pixels"] and by_id["fold"] == "test"
    train = client.get("/v1/digits", query_string={"fold": "train"}).json
    assert train["fold"] == "train"
    assert_error(client.get("/v1/digits/123456"), 404)
    assert_error(client.get("/v1/digits", query_string={"label": 10}), 400)
    assert_error(client.get("/v1/digits", query_string={"fold": "x"}), 400)
    assert_error(client.get("/v1/digits", query_string={"offset": 99999}), 404)


def test_digits_answer_as_the_scorer_and_explainer_do(client: FlaskClient) -> None:
    where = {"label": 6, "offset": 2}
    digit = client.get("/v1/digits", query_string=where).json
    body = {"input": {"pixels": digit["pixels"]}}
    assert digit["output"] == post(client, SCORER, body).json["output"]
    explained = client.get(f"/v1/digits/{digit['id']}", query_string={"explain": "true"}).json
    assert explained["output"] == post(client, EXPLAINER, body).json["output"]
    every = client.get(
        "/v1/digits", query_string={**where, "all_labels": "true", "model": "small2"}
    ).json
    asked = {**body, "all_labels": True, "model": "small2"}
    assert every["output"] == post(client, EXPLAINER, asked).json["output"]
    assert every["output"]["model"]["name"] == "small2" and len(every["output"]["biases"]) == 10
    unknown = client.get("/v1/digits", query_string={**where, "model": "nope"})
    assert "nope" in assert_error(unknown, 404)["message"]
    assert_error(client.get("/v1/digits", query_string={"explain": "yes"}), 400)
    assert_error(client.get("/v1/digits/1", query_string={"all_labels": "1"}), 400)


def test_procedures_need_a_training_server(client: FlaskClient) -> None:
    answer = client.put("/v1/procedures/x", json={})
    assert_error(answer, 403)


def test_openapi_describes_every_route(client: FlaskClient) -> None:
    from mlpaint.app import BLUEPRINTS

    spec = client.get("/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    from flask import Flask

    app = Flask("routes")
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1"):
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


def test_paint_page_and_unknown_paths(live_server: str) -> None:
    # Through gunicorn: its file wrapper sends the page's static files.
    page = requests.get(f"{live_server}/")
    assert page.status_code == 200 and 'id="paint"' in page.text
    assert_error(requests.get(f"{live_server}/v1/nothing-here"), 404)
    assert_error(requests.get(f"{live_server}/no-such-file.js"), 404)
    assert_error(requests.delete(f"{live_server}{SCORER}"), 405)
