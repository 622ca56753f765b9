"""The Anthropic Messages adapter: message conversion, payloads, replies and stream events."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from poise.errors import ModelAuthError, ModelRateLimitError, ModelServerError
from poise.models import AnthropicModel, ChatMessage, GenerationParams, Usage
from poise.models.anthropic_messages import AnthropicTurn, build_messages_payload, to_anthropic


def events(*pairs: tuple[str, dict[str, object]]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in pairs)


def model_with(handler, fake_sleep) -> AnthropicModel:
    return AnthropicModel(
        "claude-test",
        api_key="sk-ant-secret-1234",
        base_url="http://claude.local/v1/",
        transport=httpx.MockTransport(handler),
        sleep=fake_sleep,
        rng=random.Random(0),
    )


def test_system_messages_become_the_system_param() -> None:
    prompt = to_anthropic([ChatMessage("system", "A"), ChatMessage("user", "u"), ChatMessage("system", "B")])
    assert prompt.system == "A\n\nB"
    assert prompt.turns == (AnthropicTurn("user", "u"),)


def test_consecutive_same_role_messages_are_merged() -> None:
    prompt = to_anthropic(
        [
            ChatMessage("user", "one"),
            ChatMessage("user", "two"),
            ChatMessage("assistant", "three"),
            ChatMessage("assistant", "four"),
            ChatMessage("user", "five"),
        ]
    )
    assert prompt.messages() == [
        {"role": "user", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "three\n\nfour"},
        {"role": "user", "content": "five"},
    ]


def test_tool_messages_become_labelled_user_turns() -> None:
    prompt = to_anthropic([ChatMessage("user", "q"), ChatMessage("tool", "42", name="calc")])
    assert prompt.turns == (AnthropicTurn("user", "q\n\n[tool calc]\n42"),)


def test_payload() -> None:
    params = GenerationParams(max_tokens=5, temperature=0.1, stop=("X",), seed=3)
    payload = build_messages_payload(
        "claude", [ChatMessage("system", "S"), ChatMessage("user", "U")], params, stream=True
    )
    assert payload == {
        "model": "claude",
        "messages": [{"role": "user", "content": "U"}],
        "system": "S",
        "max_tokens": 5,
        "temperature": 0.1,
        "stop_sequences": ["X"],
        "stream": True,
    }
    assert build_messages_payload("c", [], params, stream=False, send_top_p=True)["top_p"] == 0.95


async def test_generate(fake_sleep) -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "model": "claude-test-2025",
                "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}],
                "stop_reason": "max_tokens",
                "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 2},
            },
        )

    response = await model_with(handler, fake_sleep).generate([ChatMessage("user", "hello")])
    assert response.text == "Hi there"
    assert response.finish_reason == "length"
    assert response.usage == Usage(15, 2)
    assert response.model == "claude-test-2025"
    request = seen[0]
    assert str(request.url) == "http://claude.local/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-secret-1234"
    assert request.headers["anthropic-version"] == "2023-06-01"


async def test_stream_events(fake_sleep) -> None:
    body = events(
        (
            "message_start",
            {"type": "message_start", "message": {"usage": {"input_tokens": 21, "output_tokens": 1}}},
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hel"}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "lo"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
        ),
        ("message_stop", {"type": "message_stop"}),
    )
    model = model_with(lambda r: httpx.Response(200, text=body), fake_sleep)
    chunks = [c async for c in model.stream([ChatMessage("user", "hi")])]
    assert [c.delta for c in chunks] == ["Hel", "lo", ""]
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == Usage(21, 4)


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [("overloaded_error", ModelServerError), ("rate_limit_error", ModelRateLimitError)],
)
async def test_stream_error_event(kind: str, error_type: type[Exception], fake_sleep) -> None:
    body = events(
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 1}}}),
        ("error", {"type": "error", "error": {"type": kind, "message": "busy"}}),
    )
    model = model_with(lambda r: httpx.Response(200, text=body), fake_sleep)
    with pytest.raises(error_type, match="busy"):
        [c async for c in model.stream([ChatMessage("user", "hi")])]


async def test_529_overloaded_is_retried(fake_sleep) -> None:
    answers = iter(
        [
            httpx.Response(
                529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            ),
            httpx.Response(
                200, json={"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}
            ),
        ]
    )
    response = await model_with(lambda r: next(answers), fake_sleep).generate([ChatMessage("user", "hi")])
    assert response.text == "ok"
    assert len(fake_sleep.delays) == 1


def test_a_key_is_required() -> None:
    with pytest.raises(ModelAuthError, match="ANTHROPIC_API_KEY"):
        AnthropicModel("claude", api_key=None)


def test_repr_never_shows_the_key() -> None:
    assert "sk-ant-hidden" not in repr(AnthropicModel("claude", api_key="sk-ant-hidden"))
