"""Fixtures for the model backend tests: a stdlib loopback HTTP server and a no-wait sleep."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Reply:
    """What the loopback server answers: JSON, raw text, or server-sent events."""

    status: int = 200
    json: Any = None
    text: str = ""
    events: tuple[str, ...] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 (ephemeral port) answering from a script of replies."""

    def __init__(self, script: list[dict[str, Any]] | Callable[[Received], dict[str, Any]]) -> None:
        self.script = script
        self.received: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                request = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw)
                )
                server.received.append(request)
                reply = server._next(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.events is not None:
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for event in reply.events:
                        self.wfile.write(event.encode())
                        self.wfile.flush()
                    return
                body = (json.dumps(reply.json) if reply.json is not None else reply.text).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def _next(self, request: Received) -> Reply:
        spec = self.script(request) if callable(self.script) else self.script.pop(0)
        return Reply(**spec)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    """Start loopback servers for a test; they are stopped when it ends.

    A script is a list of reply dicts (``status``, ``json``, ``text``, ``events``, ``headers``),
    one per request, or a function of the request returning one.
    """
    servers: list[LoopbackServer] = []

    def start(script: list[dict[str, Any]] | Callable[[Received], dict[str, Any]]) -> LoopbackServer:
        server = LoopbackServer(script).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


@pytest.fixture
def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeSleep:
    """Records the delays a client would have slept, without sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()
