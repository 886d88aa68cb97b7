"""The gunicorn worker: an event loop reads each request whole, then a thread runs the app.

gunicorn's threaded worker reads headers and bodies in its pool threads, so a few clients that
stop sending mid-request hold every thread and the server stops answering. Here gunicorn's
asyncio worker reads requests, where a stalled client costs a socket and nothing else, and
the Flask app runs in a thread pool only once its request has fully arrived. Each worker takes
one new connection at a time, so that the workers share a burst of them (``_FairLoop``).
"""

from __future__ import annotations

import asyncio
import io
import socket
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

from mlpaint.api.errors import error_body

# A request line and headers must arrive within this; gunicorn's `timeout` bounds each pause
# in a body. gunicorn times out idle kept-alive connections, but waits on a first request's
# headers forever.
HEADER_TIMEOUT_S = 10.0
# A body over the cap is still read (and dropped) up to this many times the cap, so that a
# client that sends it all before reading gets the 413 rather than a reset connection.
DRAIN_FACTOR = 2
# How long a worker whose request threads are all spoken for leaves a new connection to others.
STEP_ASIDE_S = 0.001

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class BufferedWSGI:
    """An ASGI app that runs a WSGI app in a thread pool on requests read whole."""

    def __init__(self, app: WSGIApp, *, threads: int, max_body: int) -> None:
        self.app = app
        self.max_body = max_body
        self.threads = max(1, threads)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="mlpaint-request")

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (lifespan is off; nothing here upgrades to websockets)."""
        if scope["type"] != "http":
            return
        try:
            body = await read_body(receive, self.max_body)
        except _BodyTooLarge:
            limit = self.max_body
            message = f"the request body is over the limit of {limit:,} bytes"
            return await send_error(send, 413, message, {"limit": limit})
        except _ClientGone:
            # Sent only if the client is still there: its body stalled past gunicorn's timeout.
            return await send_error(send, 408, "the request body did not arrive in time")
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(
            self.pool, self._run, wsgi_environ(scope, body)
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def close(self) -> None:
        """Wait for the requests still running (their connections may be gone already)."""
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, environ: dict[str, Any]) -> tuple[int, Headers, bytes]:
        """Call the WSGI app and collect its whole response (no route here streams)."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return written.append

        result = self.app(environ, start_response)
        try:
            content = b"".join([*written, *result])
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        return int(status.split(" ", 1)[0]), raw, content


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; ``_BodyTooLarge`` over ``limit``, ``_ClientGone`` if it stalls."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            parts.append(chunk)
        elif size > DRAIN_FACTOR * limit:
            raise _BodyTooLarge
        if not message.get("more_body"):
            if size > limit:
                raise _BodyTooLarge
            return b"".join(parts)


async def send_error(send: Send, status: int, message: str, details: Any = None) -> None:
    """Answer in the one JSON error shape and close the connection."""
    body = orjson.dumps(error_body(status, message, details))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def wsgi_environ(scope: Message, body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an ASGI HTTP request whose body has been read."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", ""),
        # PEP 3333: the percent-decoded path's bytes, as latin-1
        "PATH_INFO": unquote_to_bytes(raw_path.split(b"?", 1)[0]).decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "SERVER_PROTOCOL": "HTTP/" + scope["http_version"],
        "CONTENT_LENGTH": str(len(body)),  # chunked or not, the body is all here now
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue
        key = key if key == "CONTENT_TYPE" else "HTTP_" + key
        text = value.decode("latin-1")
        if key in environ:  # a repeated header: one value, as gunicorn's own workers give
            text = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + text
        environ[key] = text
    return environ


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Protocol(ASGIProtocol):  # type: ignore[misc]
    """gunicorn's HTTP/1 connection, with a deadline for headers and JSON error answers."""

    def connection_made(self, transport: Any) -> None:
        """Start the connection, and the clock for its first request's headers."""
        super().connection_made(transport)
        # gunicorn cancels this timer once a request's headers are in, and re-arms it with
        # its keep-alive timeout while waiting for the next request.
        self._keepalive_handle = self.worker.loop.call_later(
            HEADER_TIMEOUT_S, self._keepalive_timeout
        )

    def _send_error_response(
        self, status: int, message: str, extra_headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """gunicorn's own answers (414, 431, 400 for bad HTTP, ...) in the one JSON shape."""
        reason = _phrase(status)
        body = orjson.dumps(error_body(status, message, {"reason": reason}))
        head = [
            f"HTTP/1.1 {status} {reason}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in extra_headers),
            "Connection: close",
        ]
        self._safe_write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


class Worker(gasgi.ASGIWorker):  # type: ignore[misc]
    """gunicorn's asyncio worker, serving its connections with :class:`Protocol`."""

    def init_process(self) -> None:
        """Use :class:`Protocol`, then start as gunicorn's worker does."""
        gasgi.ASGIProtocol = Protocol  # ASGIWorker._serve builds each connection from this name
        super().init_process()

    def _setup_event_loop(self) -> None:
        """An asyncio loop that shares new connections with the other workers (``_FairLoop``)."""
        self.loop = _FairLoop(self.cfg.backlog, self._crowded)
        asyncio.set_event_loop(self.loop)

    def _crowded(self) -> bool:
        """Whether a new connection here would wait for a request thread."""
        return bool(self.nr_conns >= getattr(self.asgi, "threads", 1))


class _FairLoop(asyncio.SelectorEventLoop):
    """An event loop that shares a burst of new connections with the other workers.

    The workers share one listening socket, and asyncio accepts up to 100 waiting connections
    each time it is ready. A burst of new connections (a client opening 8 kept-alive ones) went
    all to the worker that woke first while the other worker's core sat idle: ``wrk -c8`` found
    all 8 on one worker, at half the throughput, in 4 runs of 6. Here a worker takes one
    connection each time, and once it holds a connection for each of its request threads
    (``crowded``) it steps aside for a millisecond before taking another, so that a worker with
    a free thread takes it first.
    """

    def __init__(self, listen_backlog: int, crowded: Callable[[], bool]) -> None:
        super().__init__()
        self.listen_backlog = listen_backlog
        self.crowded = crowded

    async def create_server(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> asyncio.Server:
        """``create_server`` accepting one connection per wake-up, the listen queue unchanged."""
        server = await super().create_server(*args, **{**kwargs, "backlog": 1})
        # asyncio also passes its batch size to listen(): give the socket its queue back.
        kwargs["sock"].listen(self.listen_backlog)
        return server

    def _accept_connection(self, factory: Any, sock: socket.socket, *rest: Any) -> None:
        """asyncio's accept (one connection), or a step aside while this worker is crowded."""
        if not self.crowded():
            super()._accept_connection(factory, sock, *rest)  # type: ignore[misc]
        elif self.remove_reader(sock.fileno()):
            self.call_later(STEP_ASIDE_S, self._take_one, factory, sock, rest)

    def _take_one(self, factory: Any, sock: socket.socket, rest: tuple[Any, ...]) -> None:
        """After a step aside: the connection still waiting, if another worker left it."""
        server = rest[1]  # asyncio passes (sslcontext, server, backlog, timeouts...)
        if sock.fileno() == -1 or not server.is_serving():
            return
        super()._accept_connection(factory, sock, *rest)  # type: ignore[misc]
        self.add_reader(sock.fileno(), self._accept_connection, factory, sock, *rest)
