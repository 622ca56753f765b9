"""CoalescingTransport: a response head waits for its body; nothing is lost or reordered."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from poise.server.transport import CoalescingHttpProtocol, CoalescingTransport

from .live import ServerThread

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorder:
    """A transport that records each write as one item."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def writelines(self, items: Any) -> None:
        self.writes.append(b"".join(items))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


async def test_head_and_body_leave_in_one_write():
    rec = Recorder()
    t = CoalescingTransport(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(HEAD)
    assert rec.writes == []
    t.write(b"ok")
    assert rec.writes == [HEAD + b"ok"]
    await asyncio.sleep(0)  # the scheduled flush finds nothing held
    assert rec.writes == [HEAD + b"ok"]


async def test_a_head_without_a_body_goes_out_on_the_next_iteration():
    rec = Recorder()
    t = CoalescingTransport(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(HEAD)
    await asyncio.sleep(0)
    assert rec.writes == [HEAD]
    t.write(b"later")
    assert rec.writes == [HEAD, b"later"]


async def test_close_and_writelines_send_what_is_held_first():
    rec = Recorder()
    t = CoalescingTransport(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(HEAD)
    t.writelines([b"a", b"b"])
    t.write(HEAD)
    t.close()
    assert rec.writes == [HEAD, b"ab", HEAD] and rec.closed
    await asyncio.sleep(0)  # the pending flush must not write after close
    assert rec.writes == [HEAD, b"ab", HEAD]


async def test_other_writes_pass_through_and_other_calls_are_delegated():
    rec = Recorder()
    t = CoalescingTransport(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"data: {}\n\n")
    t.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # a head too: held until what follows
    t.write(HEAD + b"ok")  # a head with its body already attached
    assert rec.writes == [b"data: {}\n\n", b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + b"ok"]
    assert t.get_extra_info("peername") == ("127.0.0.1", 1) and not t.is_closing()
    t.write(HEAD)
    t.abort()
    await asyncio.sleep(0)
    assert rec.aborted and rec.writes[-1] == b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + b"ok"


async def _app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"].endswith("/stream"):
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for part in (b"one ", b"two ", b"three"):
            await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_a_real_server_answers_whole_and_streams_in_order():
    with ServerThread(_app, http=CoalescingHttpProtocol) as url, httpx.Client(base_url=url) as client:
        for _ in range(3):  # keep-alive: several responses on one connection
            r = client.get("/")
            assert r.status_code == 200 and r.json() == {"ok": True}
        assert client.get("/stream").text == "one two three"
