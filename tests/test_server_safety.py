"""The server under abuse: stalled clients, gunicorn's own limits, chunked bodies, two servers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest
import requests

from conftest import announcement, cli, running_server

SCORER = "/v1/functions/scorer/application"
STALLS = {
    "headers incomplete": b"GET /v1/health HTTP/1.1\r\nHost: x\r\n",
    "body incomplete": (
        f"POST {SCORER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n{"
    ).encode(),
}


def stall(base: str, count: int) -> list[socket.socket]:
    """Open ``count`` connections that each send part of a request, then nothing."""
    address = urlsplit(base)
    sockets = []
    for i in range(count):
        sock = socket.create_connection((address.hostname, address.port), timeout=10)
        sock.sendall(list(STALLS.values())[i % len(STALLS)])
        sockets.append(sock)
    return sockets


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded: 90 s)."""
    sock.settimeout(90)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_stalled_clients_do_not_block_a_training_server(trained_db: Path) -> None:
    with running_server(trained_db, "--allow-training") as base:
        stalled = stall(base, 16)
        try:
            health = requests.get(base + "/v1/health", timeout=10)
            assert health.status_code == 200 and health.json()["allow_training"]
            scored = requests.post(base + SCORER, json={"input": {"pixels": [0] * 784}}, timeout=10)
            assert scored.status_code == 200
            # The server closes them itself: incomplete headers after a while, and a stalled
            # body with a 408 once it has paused past gunicorn's timeout.
            answers = [read_until_closed(sock) for sock in stalled]
        finally:
            for sock in stalled:
                sock.close()
    assert all(answer == b"" for answer in answers[0::2])  # headers incomplete
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers[1::2])


def test_stalled_clients_do_not_block_a_read_only_server(live_server: str) -> None:
    stalled = stall(live_server, 16)
    try:
        for _ in range(4):  # the server has a process per core: ask each of them, likely
            assert requests.get(live_server + "/v1/health", timeout=10).status_code == 200
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/health?x=" + "a" * 9000, {}, 414),
        ("/v1/health", {"X-Big": "a" * 9000}, 431),
        ("/v1/health", {f"X-Header-{i}": "1" for i in range(200)}, 431),
    ],
    ids=["request line", "header field", "header count"],
)
def test_gunicorn_limits_answer_in_the_json_shape(
    live_server: str, path: str, headers: dict[str, str], status: int
) -> None:
    answer = requests.get(live_server + path, headers=headers, timeout=10)
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json"
    error = answer.json()["error"]
    assert error["status"] == status and error["message"] and error["details"]["reason"]


def chunks(body: bytes, size: int = 65536) -> Iterator[bytes]:
    """A body as a generator: requests sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_chunked_bodies_are_read_and_capped(live_server: str) -> None:
    body = json.dumps({"input": {"pixels": [0] * 784}}).encode()
    headers = {"Content-Type": "application/json"}
    scored = requests.post(live_server + SCORER, data=chunks(body, 100), headers=headers)
    assert scored.status_code == 200 and "output" in scored.json()
    big = b'{"input": {"image": "' + b"A" * (5 * 1024 * 1024) + b'"}}'
    answer = requests.post(live_server + SCORER, data=chunks(big), headers=headers, timeout=60)
    assert answer.status_code == 413
    assert answer.json()["error"]["status"] == 413


def test_a_server_that_cannot_lock_the_file_leaves_the_first_ones_announcement(
    trained_db: Path,
) -> None:
    with running_server(trained_db, "--allow-training") as base:
        first = announcement(trained_db)
        assert first is not None and first["url"] == base + "/"
        second = cli("serve", "--db", str(trained_db), "--port", "0", "--allow-training")
        assert second.returncode == 1 and "serving" not in second.stdout
        assert second.stderr.startswith("mlpaint serve: ") and "in use" in second.stderr
        assert "Traceback" not in second.stderr and len(second.stderr.splitlines()) == 1
        assert announcement(trained_db) == first
        listed = cli("models", "--db", str(trained_db))  # still finds the server through it
        assert listed.returncode == 0 and "tiny" in listed.stdout
    assert announcement(trained_db) is None


def test_of_two_read_only_servers_each_removes_only_its_own_announcement(
    trained_db: Path,
) -> None:
    with running_server(trained_db) as first:
        with running_server(trained_db) as second:
            assert requests.get(second + "/v1/health", timeout=10).status_code == 200
            assert announcement(trained_db)["url"] == first + "/"
        # The second server stopped; the first one's announcement stays.
        assert announcement(trained_db)["url"] == first + "/"
    assert announcement(trained_db) is None


def test_models_activate_url_encodes_the_name(trained_db: Path) -> None:
    odd = "small 2?#%"  # a name written with SQL (or by another version) can hold anything
    con = duckdb.connect(str(trained_db))
    for table in ("models", "model_confusion", "model_predictions"):
        con.execute(f"UPDATE {table} SET name = ? WHERE name = 'small2'", [odd])
    con.close()
    with running_server(trained_db, "--allow-training") as base:
        activated = cli("models", "--db", str(trained_db), "activate", odd)
        assert activated.returncode == 0, activated.stderr
        assert "the server switched to it" in activated.stdout
        active = requests.get(base + "/v1/models", timeout=10).json()["active"]
        assert active == {"name": odd, "version": 1}
