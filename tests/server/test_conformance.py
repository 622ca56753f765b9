"""A real uvicorn server on loopback, driven by the official ``openai`` client; and a real
OpenAI-compatible upstream (stdlib HTTP server) behind the gateway, tools passed through."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
import uvicorn

from poise.models.scripted import ScriptedModel
from poise.server import create_app

from .conftest import KEY, gateway_config

pytestmark = pytest.mark.integration

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


class ServerThread:
    """uvicorn serving ``app`` on an ephemeral loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}/v1"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def gateway_url(tmp_path: Path) -> Iterator[str]:
    model = ScriptedModel(lambda messages, params: "Your card ending 4242 is active and ready to use.")
    app = create_app(gateway_config(tmp_path), models={"s": model}, host="0.0.0.0")
    with ServerThread(app) as url:
        yield url


def test_openai_sync_client(gateway_url):
    client = openai.OpenAI(base_url=gateway_url, api_key=KEY, max_retries=0)
    reply = client.chat.completions.create(
        model="bank", messages=[{"role": "user", "content": "Is my card active?"}]
    )
    assert reply.choices[0].message.content == "Your card ending 4242 is active and ready to use."
    assert (
        reply.choices[0].finish_reason == "stop"
        and reply.usage is not None
        and reply.usage.completion_tokens == 10
    )
    assert [m.id for m in client.models.list()] == ["bank"]


def test_openai_client_sees_typed_errors(gateway_url):
    client = openai.OpenAI(base_url=gateway_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="bank", messages=[{"role": "user", "content": "hi"}])
    client = openai.OpenAI(base_url=gateway_url, api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="tutor", messages=[{"role": "user", "content": "hi"}])


async def test_openai_async_client(gateway_url):
    client = openai.AsyncOpenAI(base_url=gateway_url, api_key=KEY, max_retries=0)
    reply = await client.chat.completions.create(
        model="bank", messages=[{"role": "user", "content": "status?"}]
    )
    assert "active" in (reply.choices[0].message.content or "")
    await client.close()


def test_openai_streaming(gateway_url):
    client = openai.OpenAI(base_url=gateway_url, api_key=KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="bank",
        messages=[{"role": "user", "content": "status?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Your card ending 4242 is active and ready to use."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 10


# an OpenAI-compatible upstream on loopback -------------------------------------------------------


class FakeUpstream:
    """Answers /v1/chat/completions: a tool call when tools are offered, else an echo (JSON or SSE)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append(body)
                last = body["messages"][-1]
                if body.get("tools") and last["role"] == "user":
                    message = {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                            }
                        ],
                    }
                    finish = "tool_calls"
                else:
                    message = {"role": "assistant", "content": f"upstream saw: {last.get('content')}"}
                    finish = "stop"
                if body.get("stream"):
                    delta = {k: v for k, v in message.items() if v is not None}
                    if "tool_calls" in delta:
                        delta["tool_calls"] = [{"index": 0, **delta["tool_calls"][0]}]
                    events = [
                        {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                        {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
                        {
                            "choices": [],
                            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
                        },
                    ]
                    data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                    self._send(data.encode(), "text/event-stream")
                    return
                reply = {
                    "id": "up-1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
                }
                self._send(json.dumps(reply).encode(), "application/json")

            def _send(self, data: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def upstream_gateway(tmp_path: Path, monkeypatch) -> Iterator[tuple[str, FakeUpstream]]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeUpstream() as upstream:
        config = gateway_config(
            tmp_path,
            backends={"up": {"model": "openai:fake-model", "base_url": upstream.url, "max_retries": 0}},
            models=[{"id": "bank", "persona": "bank-support", "backend": "up"}],
        )
        with ServerThread(create_app(config, host="0.0.0.0")) as url:
            yield url, upstream


def test_tools_pass_through_to_an_openai_compatible_upstream(upstream_gateway):
    url, upstream = upstream_gateway
    client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
    reply = client.chat.completions.create(
        model="bank", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER_TOOL]
    )
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert reply.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    sent = upstream.received[-1]
    assert sent["model"] == "fake-model" and sent["tools"] == [WEATHER_TOOL]
    assert sent["messages"][0]["role"] == "system" and "Acme Bank" in sent["messages"][0]["content"]
    # the tool result goes back through the gateway, tool_call_id and all
    follow = client.chat.completions.create(
        model="bank",
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
        ],
    )
    assert follow.choices[0].message.content == "upstream saw: 18C and sunny"
    assert upstream.received[-1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "18C and sunny",
    }


def test_streamed_tool_calls_and_text_through_the_upstream(upstream_gateway):
    url, _ = upstream_gateway
    client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="bank",
            messages=[{"role": "user", "content": "Weather?"}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    text_chunks = list(
        client.chat.completions.create(
            model="bank", messages=[{"role": "user", "content": "hello"}], stream=True
        )
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in text_chunks if c.choices) == "upstream saw: hello"
    )
