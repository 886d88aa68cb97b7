"""User SQL cannot write, see the server's files, or escape the time, row and byte limits."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import duckdb
import pytest
import requests
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import running_server
from mlpaint import sqlfunctions

DML = [
    "DELETE FROM digits",
    "UPDATE digits SET label = 0",
    "INSERT INTO pinned_model SELECT name, version FROM models LIMIT 1",
    "DELETE FROM models",
    "DELETE FROM pinned_model",
    "UPDATE models SET name = 'renamed'",
]
FINGERPRINT = (
    "SELECT (SELECT count(*) || ':' || sum(id) || ':' || sum(label) FROM digits), "
    "(SELECT count(*) || ':' || string_agg(name || version, ',' ORDER BY name, version) "
    "FROM models), (SELECT count(*) FROM pinned_model), (SELECT count(*) FROM model_predictions)"
)
# A literal of every DuckDB type (duckdb_types()), the awkward values included.
TYPED_VALUES = [
    "true",
    "42::TINYINT",
    "-7::SMALLINT",
    "2147483647::INTEGER",
    "9223372036854775807::BIGINT",
    "18446744073709551616::HUGEINT",
    "255::UTINYINT",
    "65535::USMALLINT",
    "4294967295::UINTEGER",
    "18446744073709551615::UBIGINT",
    "340282366920938463463374607431768211455::UHUGEINT",
    "'123456789012345678901234567890'::BIGNUM",
    "1.5::FLOAT",
    "'nan'::FLOAT",
    "'-inf'::DOUBLE",
    "123.456::DECIMAL(18,3)",
    "'a\"b\\c'",
    "'\\xAA\\x00'::BLOB",
    "'0101'::BIT",
    "DATE '2024-02-29'",
    "'infinity'::DATE",
    "TIME '12:34:56'",
    "'12:00:00+05'::TIMETZ",
    "'12:00'::TIME_NS",
    "TIMESTAMP '2024-01-01 01:02:03'",
    "'-infinity'::TIMESTAMP",
    "'2024-01-01'::TIMESTAMP_S",
    "'2024-01-01'::TIMESTAMP_MS",
    "'2024-01-01'::TIMESTAMP_NS",
    "'2024-01-01 00:00:00+02'::TIMESTAMPTZ",
    "'2024-01-01 00:00:00+02'::TIMESTAMPTZ_NS",
    "INTERVAL 3 DAY + INTERVAL 2 HOUR",
    "'00000000-0000-0000-0000-000000000000'::UUID",
    "'x'::ENUM('x', 'y')",
    "union_value(a := 1)::UNION(a INTEGER, b VARCHAR)",
    "[1, 2]::INTEGER[2]",
    "[1, NULL]",
    "{'k': 'nan'::DOUBLE}",
    "MAP {1.5: 2}",
    "MAP {[1]: {'x': 2}}",
    "'{\"a\": [1]}'::JSON",
    "1::VARIANT",
    "'POINT(1 2)'::GEOMETRY",
    "NULL",
]


def fingerprint(db: Path) -> tuple:
    """What the data and the registry hold, read from the file itself."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(FINGERPRINT).fetchall()[0]
    finally:
        con.close()


def query(client: FlaskClient, q: str, **params: object):
    return client.get("/v1/query", query_string={"q": q, **params})


@pytest.mark.parametrize("dml", DML)
def test_data_modifying_ctes_are_refused_on_a_training_server(trained_db: Path, dml: str) -> None:
    before = fingerprint(trained_db)
    with running_server(trained_db, "--allow-training") as base:
        q = f"WITH w AS ({dml} RETURNING 1) SELECT count(*) FROM w"
        answer = requests.get(f"{base}/v1/query", params={"q": q}, timeout=30)
        assert answer.status_code == 403, answer.text
        assert "read-only" in answer.json()["error"]["message"]
        count = requests.get(f"{base}/v1/query", params={"q": "SELECT count(*) FROM digits"})
        assert count.json() == [["count_star()"], [3000]]
    assert fingerprint(trained_db) == before


@pytest.mark.parametrize("dml", DML[:2])
def test_data_modifying_ctes_are_refused_on_a_read_only_server(
    client: FlaskClient, dml: str
) -> None:
    q = f"WITH w AS ({dml} RETURNING 1) SELECT count(*) FROM w"
    answer = query(client, q)
    assert answer.status_code == 403, answer.text


def test_server_paths_are_not_shown(make_client, trained_db: Path) -> None:
    client = make_client(trained_db)
    for q in (
        "SELECT * FROM duckdb_settings()",
        "SELECT path FROM duckdb_databases()",
        "SELECT current_setting('temp_directory')",
    ):
        answer = query(client, q)
        assert answer.status_code == 403, (q, answer.text)
        assert str(trained_db.parent) not in answer.get_data(as_text=True)


def test_state_changing_routes_refuse_cross_site_requests(trained_db: Path) -> None:
    with running_server(trained_db, "--allow-training") as base:
        activate = f"{base}/v1/models/small2/activate"
        form = requests.post(activate, data={"version": "1"}, timeout=30)
        assert form.status_code == 415 and form.json()["error"]["status"] == 415
        plain = requests.put(f"{base}/v1/procedures/x", data="{}", timeout=30)
        assert plain.status_code == 415
        evil = {"Origin": "http://evil.example"}
        assert requests.post(activate, json={}, headers=evil, timeout=30).status_code == 403
        cancel = f"{base}/v1/procedures/x/runs/1"
        assert requests.delete(cancel, headers=evil, timeout=30).status_code == 403
        assert requests.delete(cancel, timeout=30).status_code == 404
        fetch = {"Sec-Fetch-Site": "cross-site"}
        assert requests.post(activate, json={}, headers=fetch, timeout=30).status_code == 403
        assert requests.get(f"{base}/v1/health").json()["active_model"]["name"] == "tiny"
        own = {"Origin": base, "Sec-Fetch-Site": "same-origin"}
        answer = requests.post(activate, json={}, headers=own, timeout=30)
        assert answer.status_code == 200 and answer.json()["active"]["name"] == "small2"


def test_answers_are_bounded_in_bytes(make_client, trained_db: Path) -> None:
    client = make_client(trained_db, QUERY_MAX_BYTES=100_000)
    one_big_row = query(client, "SELECT list(pixels) FROM digits")
    assert one_big_row.status_code == 413, one_big_row.get_data(as_text=True)
    assert one_big_row.json["error"]["status"] == 413
    many_rows = query(client, "SELECT id, pixels FROM digits ORDER BY id", limit=1000)
    assert many_rows.status_code == 200 and many_rows.headers["X-Truncated"] == "true"
    assert len(many_rows.get_data()) <= 100_000
    rows = many_rows.json
    assert rows[0] == ["id", "pixels"] and [r[0] for r in rows[1:]] == list(range(len(rows) - 1))


def test_the_ml_functions_stop_at_the_time_limit(trained_db: Path) -> None:
    con = duckdb.connect(str(trained_db), read_only=True)
    sqlfunctions.register(con)
    slow = (
        "SELECT count(ml_explain(list_transform(pixels, lambda x: (x + r) % 256), 3)) "
        "FROM digits, range(100) t(r)"
    )
    try:
        with (
            pytest.raises(duckdb.Error, match="time limit"),
            sqlfunctions.time_limit(time.monotonic() + 0.3),
        ):
            con.execute(slow).fetchall()
        # Outside a time limit (the owner's own `mlpaint sql`), the functions run to the end.
        assert con.execute("SELECT count(ml_explain(pixels, 3)) FROM digits").fetchall() == [
            (3000,)
        ]
    finally:
        con.close()


def test_a_slow_query_with_ml_functions_answers_408(make_client, trained_db: Path) -> None:
    client = make_client(trained_db, QUERY_TIMEOUT_S=0.3)
    slow = (
        "SELECT count(ml_explain(list_transform(pixels, lambda x: (x + r) % 256), 3)) "
        "FROM digits, range(100) t(r)"
    )
    answer = query(client, slow)
    assert answer.status_code == 408 and answer.json["error"]["status"] == 408


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_every_duckdb_type_serialises(make_client, trained_db: Path, fmt: str) -> None:
    client = make_client(trained_db)
    for value in TYPED_VALUES:
        answer = query(client, f"SELECT {value} AS v, [{value}] AS l", format=fmt)
        assert answer.status_code == 200, (value, answer.get_data(as_text=True))
        text = answer.get_data(as_text=True)
        if fmt == "csv":
            assert next(csv.reader(io.StringIO(text))) == ["v", "l"]
        else:
            json.loads(text)  # strict JSON: no NaN, no Infinity
    huge = query(client, "SELECT 18446744073709551616::HUGEINT AS h", format="json")
    assert huge.get_data() == b'[{"h":18446744073709551616}]'
    timetz = query(client, "SELECT '12:00:00+05'::TIMETZ AS t").json
    assert timetz == [["t"], ["12:00:00+05"]]


SQL_VALUES = st.recursive(
    st.sampled_from(TYPED_VALUES),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        st.tuples(inner, inner).map(lambda kv: f"{{'a': {kv[0]}, 'b': {kv[1]}}}"),
        st.tuples(inner, inner).map(lambda kv: f"MAP {{{kv[0]}: {kv[1]}}}"),
    ),
    max_leaves=4,
)
SQL = st.one_of(
    SQL_VALUES.map(lambda v: f"SELECT {v} AS v"),
    st.sampled_from(DML).map(lambda d: f"WITH w AS ({d} RETURNING 1) SELECT count(*) FROM w"),
    st.tuples(st.sampled_from(DML), SQL_VALUES).map(
        lambda dv: f"WITH w AS ({dv[0]} RETURNING {dv[1]}) SELECT * FROM w"
    ),
)


@pytest.fixture(scope="module")
def writable_client(tmp_path_factory: pytest.TempPathFactory, trained_db_template: Path):
    """A writable (training) app in process, over its own copy of the trained database."""
    from mlpaint.app import create_app

    db = tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb"
    db.write_bytes(trained_db_template.read_bytes())
    app = create_app({"DATABASE": str(db), "ALLOW_TRAINING": True, "TESTING": True})
    yield app
    app.extensions["mlpaint"].close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sql=SQL, fmt=st.sampled_from(["table", "json", "csv"]))
def test_fuzzed_sql_never_gets_a_5xx_nor_changes_the_database(
    writable_client, sql: str, fmt: str
) -> None:
    state = writable_client.extensions["mlpaint"]
    with state.cursor() as cursor:
        before = cursor.execute(FINGERPRINT).fetchall()
    answer = writable_client.test_client().get("/v1/query", query_string={"q": sql, "format": fmt})
    assert answer.status_code < 500, (sql, answer.get_data(as_text=True))
    if answer.status_code == 200 and fmt != "csv":
        json.loads(answer.get_data(as_text=True))
    with state.cursor() as cursor:
        assert cursor.execute(FINGERPRINT).fetchall() == before, sql


def test_a_second_limited_query_is_refused_at_once_not_queued(make_client, trained_db: Path):
    client = make_client(trained_db)
    with sqlfunctions.time_limit(time.monotonic() + 5):  # another request's query is running
        busy = query(client, "SELECT count(ml_predict(pixels)) FROM digits")
    assert busy.status_code == 503 and busy.json["error"]["status"] == 503
    assert query(client, "SELECT count(ml_predict(pixels)) FROM digits").status_code == 200
