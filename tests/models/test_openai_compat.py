"""The OpenAI-compatible adapter against a mock transport: payloads, replies, streams, usage."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from poise.errors import ModelAuthError, ModelServerError
from poise.models import ChatMessage, GenerationParams, OpenAICompatibleModel, Usage
from poise.models.credentials import resolve_openai_credentials
from poise.models.openai_compat import build_chat_payload

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hi there")]


def sse_body(*chunks: object, done: bool = True) -> str:
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return "".join(lines) + ("data: [DONE]\n\n" if done else "")


def model_with(handler, fake_sleep, **options) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(
        "test-model",
        base_url="http://llm.local/v1",
        api_key="sk-secret-key-1234",
        transport=httpx.MockTransport(handler),
        sleep=fake_sleep,
        rng=random.Random(0),
        **options,
    )


def delta(text: str | None = None, finish: str | None = None) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}]}


def test_payload_maps_every_parameter() -> None:
    params = GenerationParams(max_tokens=10, temperature=0.0, top_p=0.5, stop=("END",), seed=7)
    payload = build_chat_payload("m", MESSAGES, params, stream=True)
    assert payload == {
        "model": "m",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
        "max_tokens": 10,
        "temperature": 0.0,
        "top_p": 0.5,
        "stop": ["END"],
        "seed": 7,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_payload_options_for_reasoning_models_and_old_servers() -> None:
    payload = build_chat_payload(
        "o",
        MESSAGES,
        GenerationParams(),
        stream=True,
        include_usage=False,
        max_tokens_field="max_completion_tokens",
    )
    assert "stream_options" not in payload
    assert payload["max_completion_tokens"] == 512
    assert "max_tokens" not in payload


async def test_generate_reads_text_usage_and_finish_reason(fake_sleep) -> None:
    requests = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(
            200,
            json={
                "model": "test-model-2024",
                "choices": [
                    {"message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "length"}
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
            },
        )

    model = model_with(handler, fake_sleep)
    response = await model.generate(MESSAGES)
    assert response.text == "Hello!"
    assert response.usage == Usage(12, 3)
    assert response.finish_reason == "length"
    assert response.model == "test-model-2024"
    assert str(requests[0].url) == "http://llm.local/v1/chat/completions"
    assert requests[0].headers["authorization"] == "Bearer sk-secret-key-1234"


async def test_generate_estimates_usage_when_the_server_sends_none(fake_sleep) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"choices": [{"message": {"content": "12345678"}, "finish_reason": "stop"}]}
        )

    response = await model_with(handler, fake_sleep).generate(MESSAGES)
    assert response.usage.completion_tokens == 2
    assert response.usage.prompt_tokens > 0


async def test_generate_without_choices_is_a_server_error(fake_sleep) -> None:
    model = model_with(lambda r: httpx.Response(200, json={"object": "error"}), fake_sleep)
    with pytest.raises(ModelServerError, match="without choices"):
        await model.generate(MESSAGES)


async def test_stream_yields_deltas_then_finish_and_usage(fake_sleep) -> None:
    body = sse_body(
        {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]},
        delta("Hel"),
        delta("lo"),
        delta(finish="stop"),
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}},
    )
    model = model_with(lambda r: httpx.Response(200, text=body), fake_sleep)
    chunks = [c async for c in model.stream(MESSAGES)]
    assert [c.delta for c in chunks] == ["Hel", "lo", ""]
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == Usage(9, 2)
    assert all(c.finish_reason is None for c in chunks[:-1])


async def test_stream_without_usage_or_done_is_estimated(fake_sleep) -> None:
    body = sse_body(delta("abcdefgh"), delta(finish="length"), done=False)
    model = model_with(lambda r: httpx.Response(200, text=body), fake_sleep)
    last = [c async for c in model.stream(MESSAGES)][-1]
    assert last.finish_reason == "length"
    assert last.usage is not None
    assert last.usage.completion_tokens == 2


async def test_stream_cut_short_is_a_server_error(fake_sleep) -> None:
    model = model_with(lambda r: httpx.Response(200, text=sse_body(delta("Hi"), done=False)), fake_sleep)
    with pytest.raises(ModelServerError, match="ended before"):
        [c async for c in model.stream(MESSAGES)]


async def test_stream_error_event_is_raised(fake_sleep) -> None:
    body = sse_body(delta("Hi"), {"error": {"message": "model crashed"}})
    model = model_with(lambda r: httpx.Response(200, text=body), fake_sleep)
    with pytest.raises(ModelServerError, match="model crashed"):
        [c async for c in model.stream(MESSAGES)]


def test_openai_itself_needs_a_key() -> None:
    with pytest.raises(ModelAuthError, match="OPENAI_API_KEY"):
        OpenAICompatibleModel("gpt-4o-mini", api_key=None)


def test_local_servers_need_no_key() -> None:
    model = OpenAICompatibleModel("llama3", base_url="http://localhost:11434/v1")
    assert model.base_url == "http://localhost:11434/v1"
    assert model.count_tokens("abcdefgh") == 2


def test_repr_never_shows_the_key() -> None:
    model = OpenAICompatibleModel("m", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(model)
    assert "sk-very-secret" not in repr(model._http)


def test_credentials_come_from_arguments_then_environment() -> None:
    env = {"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "http://vllm:8000/v1/"}
    creds = resolve_openai_credentials(env=env)
    assert (creds.api_key, creds.base_url, creds.source) == (
        "sk-env",
        "http://vllm:8000/v1",
        "env:OPENAI_API_KEY",
    )
    assert "sk-env" not in repr(creds)
    creds = resolve_openai_credentials(api_key="sk-arg", base_url="http://x/v1", env=env)
    assert (creds.api_key, creds.base_url, creds.source) == ("sk-arg", "http://x/v1", "argument")
    creds = resolve_openai_credentials(env={})
    assert (creds.api_key, creds.base_url) == (None, "https://api.openai.com/v1")
