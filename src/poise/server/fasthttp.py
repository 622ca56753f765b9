"""A lean keep-alive HTTP/1.1 client for the gateway's non-streaming upstream call.

httpx costs about 0.7 ms of CPU per request on this class of machine (its request and response
models, the httpcore pool, anyio); this client is an asyncio protocol over ``httptools`` (already
a server dependency) and costs a few tens of microseconds: one ``write`` per request, a pool of
idle keep-alive connections, inactivity timeouts like httpx's read timeout. It speaks plain
``http://`` only; :class:`~poise.server.upstream.OpenAIPassthrough` keeps httpx for ``https://``,
for proxies and for streaming (``docs/design/gateway.md``, "Latency").

Failures are raised as the httpx exceptions httpx would raise for the same event (``ConnectError``,
``ConnectTimeout``, ``ReadTimeout``, ``RemoteProtocolError``, ``ReadError``), so the caller maps and
retries them exactly as it does httpx's.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools
import httpx

__all__ = ["LeanHttpClient", "LeanResponse", "lean_url_supported"]

_MAX_IDLE = 64


@dataclass(frozen=True)
class LeanResponse:
    """A whole response: status, headers (names lower-cased), decoded body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def header_map(self) -> httpx.Headers:
        """The headers as a case-insensitive mapping (error paths only: it costs a few µs)."""
        return httpx.Headers(self.headers)


def lean_url_supported(base_url: str) -> bool:
    """Whether :class:`LeanHttpClient` can serve ``base_url`` (plain http with a host)."""
    try:
        parts = urlsplit(base_url)
        _ = parts.port
    except ValueError:
        return False
    return parts.scheme == "http" and bool(parts.hostname) and not parts.username and not parts.query


class _Connection(asyncio.Protocol):
    """One TCP connection; at most one request in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[LeanResponse] | None = None
        self.closed = False
        self.received = False
        self.reusable = False
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._headers_done = False
        self._framed = False  # content-length or chunked: the end is known without EOF
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.lost: asyncio.Future[None] = loop.create_future()

    # asyncio.Protocol ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received = True
        self._last = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"invalid HTTP response: {exc}"))

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if not self.lost.done():
            self.lost.set_result(None)
        if self.waiter is None or self.waiter.done():
            return
        if self._headers_done and not self._framed:  # a body delimited by the end of the connection
            self._complete()
            return
        if not self.received:
            self._fail(httpx.RemoteProtocolError("Server disconnected without sending a response."))
        else:
            self._fail(httpx.ReadError(str(exc) if exc else "the server closed the connection mid-response"))

    # httptools callbacks -------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        self._headers.append((key, value.decode("latin-1")))
        if key == "content-length" or (key == "transfer-encoding" and b"chunked" in value.lower()):
            self._framed = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim response: the real one follows
            self._headers.clear()
            self._framed = False
            return
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._headers_done:
            return
        self.reusable = bool(self.parser.should_keep_alive())
        self._complete()

    # requests ------------------------------------------------------------------------------------
    def send(self, data: bytes) -> asyncio.Future[LeanResponse]:
        assert self.transport is not None
        self.waiter = self.loop.create_future()
        self.received = self.reusable = self._headers_done = self._framed = False
        self._headers, self._body = [], []
        self._last = self.loop.time()
        self._timer = self.loop.call_at(self._last + self.timeout, self._check_timeout)
        self.transport.write(data)
        return self.waiter

    def _check_timeout(self) -> None:
        self._timer = None
        if self.waiter is None or self.waiter.done():
            return
        due = self._last + self.timeout
        if self.loop.time() >= due:
            self._fail(httpx.ReadTimeout(f"no data from the server for {self.timeout:g} s"))
            self.close()
        else:
            self._timer = self.loop.call_at(due, self._check_timeout)

    def _complete(self) -> None:
        self._stop_timer()
        headers, body = self._headers, b"".join(self._body)
        self._body = []
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            body = _decode(headers, body)
        except httpx.DecodingError as exc:
            self.reusable = False
            waiter.set_exception(exc)
            return
        waiter.set_result(LeanResponse(self.parser.get_status_code(), headers, body))

    def _fail(self, exc: Exception) -> None:
        self._stop_timer()
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self.reusable = False
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.abort()


def _decode(headers: list[tuple[str, str]], body: bytes) -> bytes:
    encoding = next((v.strip().lower() for k, v in headers if k == "content-encoding"), "identity")
    if encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise httpx.DecodingError(f"cannot decode a {encoding} body: {exc}") from None
    raise httpx.DecodingError(f"the server sent an unsupported content-encoding {encoding!r}")


class LeanHttpClient:
    """POSTs JSON bodies to one ``http://`` origin over a pool of keep-alive connections.

    Args:
        base_url: the API root (``http://host:port/v1``); paths are appended to it.
        headers: sent with every request (credentials included).
        timeout: seconds without data from the server before :class:`httpx.ReadTimeout`.
        connect_timeout: seconds to open a connection before :class:`httpx.ConnectTimeout`.
        max_idle: idle connections kept open for reuse.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        timeout: float,
        connect_timeout: float,
        max_idle: int = _MAX_IDLE,
    ) -> None:
        if not lean_url_supported(base_url):
            raise ValueError(f"LeanHttpClient serves plain http:// URLs only, not {base_url!r}")
        parts = urlsplit(base_url)
        self.host = parts.hostname or ""
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        authority = parts.netloc.rsplit("@", 1)[-1]
        fixed = {"Host": authority, "User-Agent": f"python-httpx/{httpx.__version__}", **headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(self, path: str, body: bytes, content_type: str = "application/json") -> LeanResponse:
        """POST ``body`` to ``{base_url}{path}`` and return the whole response.

        Raises:
            httpx.HTTPError: the subclass httpx raises for the same failure.
        """
        head = (
            f"POST {self.prefix}{path} HTTP/1.1\r\n".encode("latin-1")
            + self._fixed
            + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode("latin-1")
        )
        data = head + body
        conn, reused = await self._acquire()
        try:
            response = await conn.send(data)
        except httpx.RemoteProtocolError:
            conn.close()
            if not (reused and not conn.received):
                raise
            # The server closed an idle connection as we reused it: once more on a fresh one.
            conn, reused = await self._connect(), False
            try:
                response = await conn.send(data)
            except BaseException:
                conn.close()
                raise
        except BaseException:  # a timeout, a cancelled request: the connection's state is unknown
            conn.close()
            raise
        self._release(conn)
        return response

    async def _acquire(self) -> tuple[_Connection, bool]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): connections of the old one are dead
            self._idle.clear()
            self._loop = loop
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn, True
        return await self._connect(), False

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop, self.timeout), self.host, self.port
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"no connection to {self.host}:{self.port} within {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        return conn

    def _release(self, conn: _Connection) -> None:
        if conn.reusable and not conn.closed and len(self._idle) < self.max_idle:
            conn.waiter = None
            self._idle.append(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        """Close every idle connection (and wait until the event loop has closed them)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        if idle:
            await asyncio.wait([c.lost for c in idle], timeout=1.0)
