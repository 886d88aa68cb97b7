"""The worker's event loop: one waiting connection at a time, and a step aside when crowded.

gunicorn's workers share one listening socket. A loop that accepts every waiting connection at
once leaves a burst of kept-alive connections on one worker and the other core idle (the
scorer's throughput halved in 4 of 6 runs of ``wrk -c8``). The load itself is measured in
``bench/serve.py``; these tests pin the mechanism, one loop iteration at a time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import ClassVar

import pytest

from mlpaint.worker import STEP_ASIDE_S, _FairLoop

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
    """A listening socket; ``_arrive`` puts ``WAITING`` connections in its queue."""
    listener = _CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    yield listener
    while _CLIENTS:
        _CLIENTS.pop().close()
    listener.close()


_CLIENTS: list[socket.socket] = []


def _arrive(listener: socket.socket) -> None:
    """``WAITING`` clients connect at once: the kernel queues them until they are accepted."""
    _CLIENTS.extend(socket.create_connection(listener.getsockname()) for _ in range(WAITING))


class _Held(asyncio.Protocol):
    """Keeps each accepted connection's transport, to close it at the end."""

    transports: ClassVar[list[asyncio.BaseTransport]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transports.append(transport)


def _shut(loop: asyncio.AbstractEventLoop, server: asyncio.Server) -> None:
    loop.run_until_complete(asyncio.sleep(0))  # connections accepted already start
    server.close()
    loop.run_until_complete(asyncio.sleep(STEP_ASIDE_S * 5))
    while _Held.transports:
        _Held.transports.pop().close()
    loop.run_until_complete(asyncio.sleep(STEP_ASIDE_S))  # and close
    loop.close()


def _one_iteration(loop: asyncio.AbstractEventLoop) -> None:
    loop.call_soon(loop.stop)
    loop.run_forever()


def _serve(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> asyncio.Server:
    start = loop.create_server(_Held, sock=sock, start_serving=True)
    return loop.run_until_complete(start)


def test_one_waiting_connection_is_taken_per_wake_up(waiting: _CountingSocket) -> None:
    loop = _FairLoop(listen_backlog=64, crowded=lambda: False)
    server = _serve(loop, waiting)
    try:
        assert waiting.queue == 64  # the socket keeps its queue, not asyncio's batch of 1
        _arrive(waiting)
        _one_iteration(loop)
        assert waiting.accepted == 1
        for _ in range(20):  # the others, one wake-up each: none is left behind
            _one_iteration(loop)
        assert waiting.accepted == WAITING
    finally:
        _shut(loop, server)


def test_asyncio_alone_takes_every_waiting_connection_at_once(waiting: _CountingSocket) -> None:
    # What the worker's loop changes: without it, one wake-up takes the whole burst.
    loop = asyncio.SelectorEventLoop()
    server = _serve(loop, waiting)
    try:
        _arrive(waiting)
        _one_iteration(loop)
        assert waiting.accepted == WAITING
    finally:
        _shut(loop, server)


def test_a_crowded_worker_steps_aside_then_takes_one(waiting: _CountingSocket) -> None:
    loop = _FairLoop(listen_backlog=64, crowded=lambda: True)
    server = _serve(loop, waiting)
    try:
        _arrive(waiting)
        _one_iteration(loop)
        assert waiting.accepted == 0  # left a moment to a worker with a free thread
        # No other worker here: after each step aside this one takes a connection itself.
        loop.run_until_complete(asyncio.sleep(STEP_ASIDE_S * (WAITING + 20)))
        assert waiting.accepted == WAITING
    finally:
        _shut(loop, server)


def test_a_server_closed_while_its_worker_steps_aside_takes_no_more(
    waiting: _CountingSocket,
) -> None:
    loop = _FairLoop(listen_backlog=64, crowded=lambda: True)
    server = _serve(loop, waiting)
    _arrive(waiting)
    _one_iteration(loop)
    _shut(loop, server)
    assert waiting.accepted == 0
