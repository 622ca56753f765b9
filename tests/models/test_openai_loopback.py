"""The OpenAI-compatible adapter against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from poise.errors import ModelAuthError, ModelNotFoundError, ModelUnreachableError
from poise.models import ChatMessage, GenerationParams, OpenAICompatibleModel, Usage

pytestmark = pytest.mark.integration

KEY = "sk-loopback-secret-key"
HI = [ChatMessage("user", "Say hello")]
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "model": "tiny",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10},
}


def chunk(content: str | None = None, finish: str | None = None) -> str:
    delta = {"content": content} if content else {}
    return (
        "data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"
    )


def model_for(url: str, fake_sleep, **options) -> OpenAICompatibleModel:
    return OpenAICompatibleModel("tiny", base_url=f"{url}/v1", api_key=KEY, sleep=fake_sleep, **options)


async def test_generate(loopback, fake_sleep) -> None:
    server = loopback([{"json": COMPLETION}])
    async with model_for(server.url, fake_sleep) as model:
        response = await model.generate(HI, GenerationParams(max_tokens=5, temperature=0.0))
    assert (response.text, response.usage, response.finish_reason) == ("Hello!", Usage(8, 2), "stop")
    request = server.received[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["max_tokens"] == 5
    assert request.body["messages"] == [{"role": "user", "content": "Say hello"}]


async def test_stream(loopback, fake_sleep) -> None:
    usage = {"choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 2}}
    events = (
        chunk("Hel"),
        chunk("lo!"),
        chunk(finish="stop"),
        f"data: {json.dumps(usage)}\n\n",
        "data: [DONE]\n\n",
    )
    server = loopback([{"events": events}])
    async with model_for(server.url, fake_sleep) as model:
        chunks = [c async for c in model.stream(HI)]
    assert "".join(c.delta for c in chunks) == "Hello!"
    assert chunks[-1].usage == Usage(8, 2)
    assert server.received[0].body["stream_options"] == {"include_usage": True}


async def test_stream_from_a_server_that_sends_no_usage(loopback, fake_sleep) -> None:
    server = loopback([{"events": (chunk("abcd"), chunk(finish="stop"), "data: [DONE]\n\n")}])
    async with model_for(server.url, fake_sleep) as model:
        last = [c async for c in model.stream(HI)][-1]
    assert last.usage is not None
    assert last.usage.completion_tokens == 1


async def test_429_then_200_is_retried(loopback, fake_sleep) -> None:
    server = loopback(
        [
            {"status": 429, "json": {"error": {"message": "rate limited"}}, "headers": {"Retry-After": "1"}},
            {"json": COMPLETION},
        ]
    )
    async with model_for(server.url, fake_sleep) as model:
        response = await model.generate(HI)
    assert response.text == "Hello!"
    assert len(server.received) == 2
    assert fake_sleep.delays == [1.0]


async def test_401_is_an_auth_error_without_the_key(loopback, fake_sleep) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}}
    server = loopback([{"status": 401, "json": body}])
    async with model_for(server.url, fake_sleep) as model:
        with pytest.raises(ModelAuthError) as caught:
            await model.generate(HI)
    message = str(caught.value)
    assert f"the API key was rejected by {server.url}/v1/chat/completions" in message
    assert "set OPENAI_API_KEY or pass api_key=" in message
    assert KEY not in message
    assert len(server.received) == 1


async def test_404_names_the_model(loopback, fake_sleep) -> None:
    server = loopback([{"status": 404, "json": {"error": {"message": "model 'tiny' not found"}}}])
    async with model_for(server.url, fake_sleep) as model:
        with pytest.raises(ModelNotFoundError, match=r"'tiny'.*poise models"):
            [c async for c in model.stream(HI)]


async def test_unreachable_port(free_port: int, fake_sleep) -> None:
    async with model_for(f"http://127.0.0.1:{free_port}", fake_sleep, max_retries=1) as model:
        with pytest.raises(ModelUnreachableError, match=r"cannot connect to 127\.0\.0\.1"):
            await model.generate(HI)
    assert len(fake_sleep.delays) == 1
