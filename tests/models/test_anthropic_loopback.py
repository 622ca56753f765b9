"""The Anthropic adapter against a real HTTP server on 127.0.0.1 speaking the Messages API."""

from __future__ import annotations

import json

import pytest

from poise.errors import ModelAuthError, ModelServerError
from poise.models import AnthropicModel, ChatMessage, Usage

pytestmark = pytest.mark.integration

KEY = "sk-ant-loopback-secret"
CONVERSATION = [
    ChatMessage("system", "You are terse."),
    ChatMessage("user", "Hi"),
    ChatMessage("user", "Still there?"),
]


def event(name: str, data: dict[str, object]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


STREAM = (
    event(
        "message_start",
        {"type": "message_start", "message": {"usage": {"input_tokens": 17, "output_tokens": 1}}},
    ),
    event(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
    ),
    event("ping", {"type": "ping"}),
    event(
        "content_block_delta", {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Yes"}}
    ),
    event(
        "content_block_delta", {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "."}}
    ),
    event("content_block_stop", {"type": "content_block_stop", "index": 0}),
    event(
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
    ),
    event("message_stop", {"type": "message_stop"}),
)


def model_for(url: str, fake_sleep) -> AnthropicModel:
    return AnthropicModel("claude-loop", api_key=KEY, base_url=url, sleep=fake_sleep)


async def test_generate(loopback, fake_sleep) -> None:
    reply = {
        "type": "message",
        "model": "claude-loop",
        "content": [{"type": "text", "text": "Yes."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 17, "output_tokens": 2},
    }
    server = loopback([{"json": reply}])
    async with model_for(server.url, fake_sleep) as model:
        response = await model.generate(CONVERSATION)
    assert (response.text, response.usage, response.finish_reason) == ("Yes.", Usage(17, 2), "stop")
    request = server.received[0]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["system"] == "You are terse."
    assert request.body["messages"] == [{"role": "user", "content": "Hi\n\nStill there?"}]


async def test_stream(loopback, fake_sleep) -> None:
    server = loopback([{"events": STREAM}])
    async with model_for(server.url, fake_sleep) as model:
        chunks = [c async for c in model.stream(CONVERSATION)]
    assert [c.delta for c in chunks] == ["Yes", ".", ""]
    assert (chunks[-1].finish_reason, chunks[-1].usage) == ("stop", Usage(17, 2))
    assert server.received[0].body["stream"] is True


async def test_overloaded_529_is_retried_then_reported(loopback, fake_sleep) -> None:
    overloaded = {
        "status": 529,
        "json": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    }
    server = loopback([overloaded, overloaded, overloaded])
    async with model_for(server.url, fake_sleep) as model:
        with pytest.raises(ModelServerError, match=r"overloaded.*Overloaded"):
            await model.generate(CONVERSATION)
    assert len(server.received) == 3
    assert len(fake_sleep.delays) == 2


async def test_401(loopback, fake_sleep) -> None:
    body = {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
    server = loopback([{"status": 401, "json": body}])
    async with model_for(server.url, fake_sleep) as model:
        with pytest.raises(ModelAuthError, match="set ANTHROPIC_API_KEY or pass api_key=") as caught:
            [c async for c in model.stream(CONVERSATION)]
    assert KEY not in str(caught.value)
