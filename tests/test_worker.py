"""The worker's event loop: it takes one waiting connection at a time and keeps the listen queue.

gunicorn's workers share one listening socket. A loop that accepts every waiting connection at
once leaves a burst of kept-alive connections on one worker and the other core idle (the
scorer's throughput halved in 4 of 6 runs of ``wrk -c8``). The load itself is measured in
``bench/serve.py``; these tests pin the mechanism, one loop iteration at a time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from mlpaint.worker import _FairLoop

WAITING = 3


class _CountingSocket(socket.socket):
    """A listening socket that counts ``accept`` calls and remembers its last listen queue."""

    accepted = 0
    queue = 0

    def accept(self) -> tuple[socket.socket, object]:
        conn, address = super().accept()
        self.accepted += 1
        return conn, address

    def listen(self, backlog: int = 0) -> None:
        self.queue = backlog
        super().listen(backlog)


@pytest.fixture
def waiting() -> Iterator[_CountingSocket]:
    """A listening socket with ``WAITING`` connections in its queue, none accepted yet."""
    listener = _CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(WAITING)]
    yield listener
    for client in clients:
        client.close()
    listener.close()


def _one_iteration(loop: asyncio.AbstractEventLoop) -> None:
    loop.call_soon(loop.stop)
    loop.run_forever()


def _serve(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> asyncio.Server:
    start = loop.create_server(asyncio.Protocol, sock=sock, start_serving=True)
    return loop.run_until_complete(start)


def test_one_waiting_connection_is_taken_per_wake_up(waiting: _CountingSocket) -> None:
    loop = _FairLoop(listen_backlog=64)
    try:
        server = _serve(loop, waiting)
        assert waiting.queue == 64  # the socket keeps its queue, not asyncio's batch of 1
        before = waiting.accepted
        _one_iteration(loop)
        assert waiting.accepted - before == 1
        for _ in range(20):  # the others, one wake-up each: none is left behind
            _one_iteration(loop)
        assert waiting.accepted == WAITING
        server.close()
    finally:
        loop.close()


def test_asyncio_alone_takes_every_waiting_connection_at_once(waiting: _CountingSocket) -> None:
    # What the worker's loop changes: without it, one wake-up takes the whole burst.
    loop = asyncio.SelectorEventLoop()
    try:
        server = _serve(loop, waiting)
        _one_iteration(loop)
        assert waiting.accepted == WAITING
        server.close()
    finally:
        loop.close()
