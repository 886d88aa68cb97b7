"""Bad input, tried on purpose: every route answers a 4xx in the one JSON error shape.

In process (Flask's test client), except what the real gunicorn server must show: its body cap,
and its workers refusing huge canvases side by side.
"""

from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_images import huge_rgba_png

SCORER = "/v1/functions/scorer/application"
EXPLAINER = "/v1/functions/explainer/application"
GOOD = [0] * 700 + [255] * 84


def png_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


BAD_BODIES = {
    "malformed json": ('{"input": {"pixels": [1, 2', 400),
    "not an object": ("[1, 2, 3]", 400),
    "no input": ("{}", 400),
    "input not an object": ('{"input": [1, 2]}', 400),
    "both pixels and image": ('{"input": {"pixels": [], "image": ""}}', 400),
    "unknown input key": ('{"input": {"pixel": [0]}}', 400),
    "wrong pixel count": ('{"input": {"pixels": [0, 1, 2]}}', 400),
    "pixels not a list": ('{"input": {"pixels": "0,1,2"}}', 400),
    "non-number pixel": ('{"input": {"pixels": [' + '"a",' * 783 + '"a"]}}', 400),
    "boolean pixel": ('{"input": {"pixels": [' + "true," * 783 + "true]}}", 400),
    "NaN pixel": ('{"input": {"pixels": [' + "NaN," * 783 + "NaN]}}", 400),
    "Infinity pixel": ('{"input": {"pixels": [' + "Infinity," * 783 + "1]}}", 400),
    "pixel 256": ('{"input": {"pixels": [' + "0," * 783 + "256]}}", 400),
    "pixel -1": ('{"input": {"pixels": [' + "-1," * 783 + "0]}}", 400),
    "null pixels": ('{"input": {"pixels": null}}', 400),
    # An image string has the documented shape; that it cannot be used is a 422.
    "broken base64": ('{"input": {"image": "data:image/png;base64,%%%not-base64"}}', 422),
    "not an image": (
        '{"input": {"image": "data:image/png;base64,' + base64.b64encode(b"hello").decode() + '"}}',
        422,
    ),
    "image not a string": ('{"input": {"image": 12}}', 400),
    "empty canvas": (
        '{"input": {"image": "' + png_url(Image.new("L", (280, 280), 255)) + '"}}',
        422,
    ),
    "transparent canvas": (
        '{"input": {"image": "' + png_url(Image.new("RGBA", (280, 280), (0, 0, 0, 0))) + '"}}',
        422,
    ),
    "image too many pixels": (
        '{"input": {"image": "' + png_url(Image.new("L", (5000, 10), 255)) + '"}}',
        413,
    ),
    "image over the pixel budget": (
        '{"input": {"image": "' + png_url(Image.new("L", (4096, 4000), 255)) + '"}}',
        413,
    ),
    "unknown model": ('{"input": {"pixels": [' + "0," * 783 + '0]}, "model": "nope"}', 404),
    "model not a string": ('{"input": {"pixels": [' + "0," * 783 + '0]}, "model": 5}', 400),
}


@pytest.mark.parametrize("path", [SCORER, EXPLAINER])
@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_bodies(client: FlaskClient, path: str, case: str) -> None:
    body, status = BAD_BODIES[case]
    answer = client.post(path, data=body, content_type="application/json")
    assert answer.status_code == status, answer.text
    error = answer.json["error"]
    assert error["status"] == status and error["message"]


@pytest.mark.parametrize("label", [10, -1, "3", 2.5, True])
def test_bad_labels(client: FlaskClient, label: object) -> None:
    answer = client.post(EXPLAINER, json={"input": {"pixels": GOOD}, "label": label})
    assert answer.status_code == 400 and "label" in answer.json["error"]["message"]


def test_image_over_the_byte_cap(client: FlaskClient) -> None:
    values = np.random.default_rng(0).integers(0, 256, (1600, 1600), dtype=np.uint8)
    noise = Image.fromarray(values)  # incompressible: over 2 MB as PNG
    answer = client.post(SCORER, json={"input": {"image": png_url(noise)}})
    assert answer.status_code == 413 and answer.json["error"]["status"] == 413


def test_huge_canvases_are_refused_four_at_once(live_server: str) -> None:
    # 4096x4096 RGBA in 80 KB of PNG: decoded, it once cost a worker about 1 GB.
    body = {
        "input": {"image": "data:image/png;base64," + base64.b64encode(huge_rgba_png()).decode()}
    }
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda path: requests.post(live_server + path, json=body, timeout=60),
                [SCORER, EXPLAINER] * 2,
            )
        )
    for answer in answers:
        assert answer.status_code == 413, answer.text
        assert "4,194,304" in answer.json()["error"]["message"]
    assert requests.get(live_server + "/v1/health", timeout=10).status_code == 200


def test_a_large_jpeg_photo_is_scored(client: FlaskClient) -> None:
    photo = Image.new("L", (4096, 3072), 255)  # 12.6 MP, like a phone's camera
    photo.paste(0, (1900, 1000, 2200, 2100))  # a thick '1'
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG")
    url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    answer = client.post(SCORER, json={"input": {"image": url}})
    assert answer.status_code == 200, answer.text


def test_body_over_the_request_cap(live_server: str) -> None:
    # Through gunicorn: the cap holds for a body streamed from a real socket.
    answer = requests.post(
        live_server + SCORER,
        data=b'{"input": {"image": "' + b"A" * (5 * 1024 * 1024) + b'"}}',
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert answer.status_code == 413 and answer.json()["error"]["status"] == 413


def test_bad_get_input(client: FlaskClient) -> None:
    for params in ({}, {"input": "{not json"}, {"input": "[1]"}, {"input": "NaN"}):
        answer = client.get(SCORER, query_string=params)
        assert answer.status_code == 400, params
        assert answer.json["error"]["status"] == 400


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
ODD_VALUES = st.one_of(
    st.integers(-1000, 1000), st.floats(allow_nan=False, allow_infinity=False), JSON_VALUES
)
# A valid pixel list with one value replaced and its length nudged: fast to generate.
PIXEL_LISTS = st.builds(
    lambda index, value, size: [*GOOD[:index], value, *GOOD[index + 1 :]][:size],
    st.integers(0, 783),
    ODD_VALUES,
    st.sampled_from([783, 784, 785]),
)
BODIES = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({"input": JSON_VALUES}),
    st.fixed_dictionaries({"input": st.fixed_dictionaries({"pixels": PIXEL_LISTS})}),
    st.fixed_dictionaries(
        {"input": st.fixed_dictionaries({"pixels": st.just(GOOD)}), "label": JSON_VALUES}
    ),
    st.fixed_dictionaries({"input": st.fixed_dictionaries({"image": st.text(max_size=80)})}),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES, path=st.sampled_from([SCORER, EXPLAINER]))
def test_fuzzed_bodies_never_get_a_5xx(client: FlaskClient, body: object, path: str) -> None:
    # The standard library's JSON, as a client sends it: integers of any size included.
    answer = client.post(path, data=json.dumps(body), content_type="application/json")
    assert answer.status_code < 500, (body, answer.text)
    if answer.status_code >= 400:
        assert answer.json["error"]["status"] == answer.status_code


@settings(max_examples=250, deadline=None)
@given(
    q=st.text(max_size=60),
    fmt=st.sampled_from(["table", "json", "csv", "xml"]),
    limit=st.one_of(st.none(), st.text(max_size=6)),
)
def test_fuzzed_queries_never_get_a_5xx(client: FlaskClient, q: str, fmt: str, limit) -> None:
    params = {"q": q, "format": fmt, **({"limit": limit} if limit is not None else {})}
    answer = client.get("/v1/query", query_string=params)
    assert answer.status_code < 500, (params, answer.text)


@settings(max_examples=200, deadline=None)
@given(label=st.text(max_size=4), fold=st.text(max_size=6), offset=st.text(max_size=6))
def test_fuzzed_digit_lookups_never_get_a_5xx(client: FlaskClient, label, fold, offset) -> None:
    params = {"label": label, "fold": fold, "offset": offset}
    answer = client.get("/v1/digits", query_string=params)
    assert answer.status_code < 500, (params, answer.text)
