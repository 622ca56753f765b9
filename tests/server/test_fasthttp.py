"""The gateway's lean paths: the keep-alive upstream client, the ASGI fast path, shared language ids."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from poise.errors import ModelRateLimitError, ModelServerError, ModelTimeoutError, ModelUnreachableError
from poise.instructions import natural_language
from poise.instructions.code_language import find_mentions
from poise.models.scripted import ScriptedModel
from poise.models.types import GenerationParams
from poise.server.fasthttp import LeanHttpClient, lean_url_supported
from poise.server.upstream import OpenAIPassthrough, UpstreamCall

from .conftest import KEY, MakeGateway

REPLY = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}

Handler = Callable[[bytes, bytes], Awaitable[bytes | None]]


class RawServer:
    """A loopback HTTP/1.1 server answering each request with ``handler(head, body)`` bytes
    (``None``: close the connection without answering)."""

    def __init__(self, handler: Handler, *, close_after: int | None = None) -> None:
        self.handler = handler
        self.close_after = close_after
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                answer = await self.handler(head, body)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def response(status: int, body: bytes, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"content-length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def ok(head: bytes, body: bytes) -> bytes:
    return response(200, json.dumps(REPLY).encode(), "content-type: application/json")


def passthrough(url: str, max_retries: int = 0, timeout: float = 5.0) -> OpenAIPassthrough:
    return OpenAIPassthrough(
        ScriptedModel(),
        upstream_model="m",
        base_url=url,
        api_key="sk-upstream-secret",
        timeout=timeout,
        connect_timeout=2.0,
        max_retries=max_retries,
    )


CALL = UpstreamCall([{"role": "user", "content": "héllo"}], GenerationParams())


def test_only_plain_http_takes_the_lean_client() -> None:
    assert lean_url_supported("http://127.0.0.1:8000/v1")
    assert not lean_url_supported("https://api.openai.com/v1")
    assert not lean_url_supported("http://user:pw@host/v1")
    assert passthrough("https://api.example.com/v1")._lean is None
    assert passthrough("http://127.0.0.1:9/v1")._lean is not None


def test_a_proxy_in_the_environment_keeps_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert passthrough("http://10.1.2.3:8000/v1")._lean is None


async def test_one_connection_is_kept_alive_and_the_request_is_what_httpx_sends() -> None:
    raw = RawServer(ok)
    async with raw as url:
        up = passthrough(url)
        for _ in range(3):
            reply = await up.complete(CALL)
            assert reply.text == "hi" and reply.usage.total_tokens == 4
        await up.aclose()
    assert raw.connections == 1 and len(raw.requests) == 3
    head, body = raw.requests[0]
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"Authorization: Bearer sk-upstream-secret" in head
    assert b"Content-Type: application/json" in head
    sent = json.loads(body)
    assert sent["model"] == "m" and sent["messages"] == CALL.messages
    assert "héllo".encode() in body  # UTF-8, not \\u escapes (as httpx sends)


async def test_an_idle_connection_closed_by_the_server_is_replaced() -> None:
    raw = RawServer(ok, close_after=1)
    async with raw as url:
        up = passthrough(url)
        assert (await up.complete(CALL)).text == "hi"
        await asyncio.sleep(0.05)  # the server has closed the kept-alive connection
        assert (await up.complete(CALL)).text == "hi"
        await up.aclose()
    assert raw.connections == 2


async def test_a_server_that_drops_a_fresh_connection_is_a_typed_error() -> None:
    async def drop(head: bytes, body: bytes) -> None:
        return None

    async with RawServer(drop) as url:
        up = passthrough(url)
        with pytest.raises(ModelUnreachableError, match=r"connection to 127\.0\.0\.1 failed"):
            await up.complete(CALL)
        await up.aclose()


async def test_connection_refused_is_unreachable() -> None:
    async with RawServer(ok) as url:
        pass  # closed: nothing listens on that port any more
    up = passthrough(url)
    with pytest.raises(ModelUnreachableError, match="cannot connect"):
        await up.complete(CALL)


async def test_a_silent_server_times_out() -> None:
    async def hang(head: bytes, body: bytes) -> bytes:
        await asyncio.sleep(5)
        return b""

    async with RawServer(hang) as url:
        up = passthrough(url, timeout=0.2)
        with pytest.raises(ModelTimeoutError, match=r"answer from 127\.0\.0\.1"):
            await up.complete(CALL)
        await up.aclose()


async def test_statuses_map_to_the_same_typed_errors_and_retries() -> None:
    answers = [
        response(500, b'{"error": {"message": "boom"}}'),
        response(429, b'{"error": {"message": "slow down"}}', "retry-after: 7"),
    ]

    async def scripted(head: bytes, body: bytes) -> bytes:
        return answers.pop(0) if answers else await ok(head, body)

    raw = RawServer(scripted)
    async with raw as url:
        up = passthrough(url, max_retries=1)
        up._retry = type(up._retry)(max_retries=1, initial_delay=0.001, max_delay=0.002)
        with pytest.raises(ModelRateLimitError, match="slow down") as caught:
            await up.complete(CALL)  # the 500 is retried once; the 429 then has no retry left
        assert caught.value.retry_after == 7.0
        assert (await up.complete(CALL)).text == "hi"
        await up.aclose()
    assert len(raw.requests) == 3


async def test_gzip_bodies_are_decoded_and_non_json_is_a_server_error() -> None:
    answers = [
        response(200, gzip.compress(json.dumps(REPLY).encode()), "content-encoding: gzip"),
        response(200, b"<html>oops</html>", "content-type: text/html"),
    ]

    async def scripted(head: bytes, body: bytes) -> bytes:
        return answers.pop(0)

    async with RawServer(scripted) as url:
        up = passthrough(url)
        assert (await up.complete(CALL)).text == "hi"
        with pytest.raises(ModelServerError, match="not JSON: '<html>oops</html>'"):
            await up.complete(CALL)
        await up.aclose()


async def test_chunked_responses_are_read_whole() -> None:
    data = json.dumps(REPLY).encode()
    chunked = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (data[:10], data[10:]))

    async def scripted(head: bytes, body: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n"

    async with RawServer(scripted) as url:
        client = LeanHttpClient(url, headers={}, timeout=2, connect_timeout=2)
        got = await client.post("/chat/completions", b"{}")
        assert got.status == 200 and json.loads(got.body) == REPLY
        await client.aclose()


async def test_the_fast_path_answers_like_the_router(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(ScriptedModel(replies=["Your card is active."] * 2))
    payload = {"model": "bank", "messages": [{"role": "user", "content": "is my card active?"}]}
    auth = {"Authorization": f"Bearer {KEY}"}
    fast = await gw.client.post("/v1/chat/completions", json=payload, headers=auth)
    routed = await gw.client.post(  # +json is JSON to FastAPI, but not taken by the fast path
        "/v1/chat/completions",
        content=json.dumps(payload),
        headers={**auth, "Content-Type": "application/vnd.poise+json"},
    )
    for r in (fast, routed):
        assert r.status_code == 200 and r.headers["x-request-id"].startswith("req_")
    a, b = fast.json(), routed.json()
    for volatile in ("id", "created"):
        a.pop(volatile), b.pop(volatile)
    assert a == b


async def test_the_fast_path_leaves_errors_to_fastapi(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(host="0.0.0.0")  # keys required
    bad_key = await gw.chat(key="sk-wrong-key-000000000000")
    assert bad_key.status_code == 401 and bad_key.json()["error"]["code"] == "invalid_api_key"
    invalid = await gw.client.post(
        "/v1/chat/completions",
        json={"model": "bank", "messages": "not a list"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert invalid.status_code == 400 and invalid.json()["error"]["param"] == "messages"
    broken = await gw.client.post(
        "/v1/chat/completions",
        content=b'{"model": ',
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"


def test_language_ids_are_shared_within_a_block(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = natural_language._default.identify

    def counting(prose: str) -> Any:
        calls.append(prose)
        return real(prose)

    monkeypatch.setattr(natural_language._default, "identify", counting)
    text = "Wo ist meine Karte? Ich brauche sie heute noch."
    outside = natural_language.identify_language(text)
    with natural_language.shared_language_ids():
        first = natural_language.identify_language(text)
        second = natural_language.identify_language(text)
    after = natural_language.identify_language(text)
    assert first == second == outside == after and first.language == "de"
    assert len(calls) == 3  # outside, once inside, after


@pytest.mark.parametrize(
    ("text", "languages"),
    [
        ("Hello, is my debit card active right now?", []),
        ("How do I write a loop in Go?", ["go"]),
        ("I use C++ and C# daily, and PYTHON", ["cpp", "csharp", "python"]),
        ("ſql is not ascii", ["sql"]),  # re.IGNORECASE folds U+017F to "s": no ASCII shortcut
        ("rewrite this Rust function", ["rust"]),
    ],
)
def test_mention_prefilter_matches_the_patterns(text: str, languages: list[str]) -> None:
    assert sorted(m.language for m in find_mentions(text)) == sorted(languages)
