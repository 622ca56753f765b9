"""Retries, backoff and the one mapping from HTTP failures to typed errors."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from poise.errors import (
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelRequestError,
    ModelServerError,
    ModelTimeoutError,
    ModelUnreachableError,
)
from poise.models.http import (
    ErrorContext,
    HttpSettings,
    ModelHttpClient,
    RetryPolicy,
    map_http_status,
    parse_retry_after,
    redact,
    server_message,
)

SECRET = "sk-test-0123456789abcdef"
CTX = ErrorContext("openai", "gpt-test", "OPENAI_API_KEY", secrets=(SECRET,))
URL = "https://api.example.com/v1/chat/completions"


def make_client(handler, fake_sleep, retries: int = 2) -> ModelHttpClient:
    return ModelHttpClient(
        "https://api.example.com/v1",
        headers={"Authorization": f"Bearer {SECRET}"},
        context=CTX,
        settings=HttpSettings(retry=RetryPolicy(max_retries=retries)),
        transport=httpx.MockTransport(handler),
        sleep=fake_sleep,
        rng=random.Random(0),
    )


@pytest.mark.parametrize(
    ("status", "error_type", "fragment"),
    [
        (401, ModelAuthError, "set OPENAI_API_KEY or pass api_key="),
        (403, ModelAuthError, "the API key was rejected by " + URL),
        (404, ModelNotFoundError, "'gpt-test'"),
        (400, ModelRequestError, "server said: bad things"),
        (413, ModelRequestError, "HTTP 413"),
        (422, ModelRequestError, "bad things"),
        (429, ModelRateLimitError, "429"),
        (500, ModelServerError, "HTTP 500"),
        (529, ModelServerError, "overloaded"),
        (408, ModelTimeoutError, "408"),
        (409, ModelRequestError, "HTTP 409"),
    ],
)
def test_map_http_status(status: int, error_type: type[ModelError], fragment: str) -> None:
    error = map_http_status(status, URL, '{"error": {"message": "bad things"}}', {}, CTX)
    assert type(error) is error_type
    assert fragment in str(error)
    assert error.backend == "openai"
    assert error.status == status


def test_not_found_suggests_poise_models() -> None:
    assert "poise models" in str(map_http_status(404, URL, "", {}, CTX))


def test_api_key_is_redacted_from_server_messages() -> None:
    body = f'{{"error": {{"message": "Incorrect API key provided: {SECRET}"}}}}'
    error = map_http_status(401, URL, body, {}, CTX)
    assert SECRET not in str(error)
    assert "***" in str(error)


def test_redact_ignores_empty_secrets() -> None:
    assert redact("abc", ("",)) == "abc"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error": {"message": "m1"}}', "m1"),
        ('{"type": "error", "error": {"type": "x", "message": "m2"}}', "m2"),
        ('{"detail": "m3"}', "m3"),
        ('{"error": "m4"}', "m4"),
        ("plain text", "plain text"),
        ("", ""),
    ],
    ids=["openai", "anthropic", "fastapi", "string", "text", "empty"],
)
def test_server_message(body: str, expected: str) -> None:
    assert server_message(body) == expected


def test_parse_retry_after_variants() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (parse_retry_after({"retry-after": later}) or 0) <= 30


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=4.0)
    rng = random.Random(1)
    for attempt, cap in [(0, 1.0), (1, 2.0), (2, 4.0), (5, 4.0)]:
        delay = policy.backoff(attempt, rng)
        assert cap / 2 <= delay <= cap


async def test_retries_429_then_succeeds_honouring_retry_after(fake_sleep) -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "slow"}}),
            httpx.Response(503),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    client = make_client(lambda request: next(answers), fake_sleep)
    assert await client.post_json("/chat/completions", {}) == {"ok": True}
    assert len(fake_sleep.delays) == 2
    assert fake_sleep.delays[0] == 7.0  # Retry-After beats the 0.5 s backoff
    assert 0.5 <= fake_sleep.delays[1] <= 1.0


async def test_429_after_all_retries_carries_retry_after(fake_sleep) -> None:
    client = make_client(lambda r: httpx.Response(429, headers={"Retry-After": "2"}), fake_sleep)
    with pytest.raises(ModelRateLimitError) as caught:
        await client.post_json("/chat/completions", {})
    assert caught.value.retry_after == 2.0
    assert len(fake_sleep.delays) == 2


async def test_too_long_retry_after_is_not_waited_for(fake_sleep) -> None:
    client = make_client(lambda r: httpx.Response(429, headers={"Retry-After": "3600"}), fake_sleep)
    with pytest.raises(ModelRateLimitError) as caught:
        await client.post_json("/chat/completions", {})
    assert caught.value.retry_after == 3600.0
    assert fake_sleep.delays == []


async def test_server_errors_are_retried_then_raised(fake_sleep) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(502, text="bad gateway")

    with pytest.raises(ModelServerError, match="502"):
        await make_client(handler, fake_sleep, retries=3).post_json("/x", {})
    assert len(calls) == 4


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_are_not_retried(status: int, fake_sleep) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, json={"error": {"message": "no"}})

    with pytest.raises(ModelError):
        await make_client(handler, fake_sleep).post_json("/x", {})
    assert len(calls) == 1
    assert fake_sleep.delays == []


async def test_connection_errors_are_retried_then_name_the_host(fake_sleep) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(ModelUnreachableError, match=r"api\.example\.com") as caught:
        await make_client(handler, fake_sleep).post_json("/x", {})
    assert len(fake_sleep.delays) == 2
    assert SECRET not in str(caught.value)


async def test_read_timeout_is_not_retried(fake_sleep) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ModelTimeoutError, match="timeout="):
        await make_client(handler, fake_sleep).post_json("/x", {})
    assert fake_sleep.delays == []


async def test_non_json_success_is_a_server_error(fake_sleep) -> None:
    client = make_client(lambda r: httpx.Response(200, text="<html>"), fake_sleep)
    with pytest.raises(ModelServerError, match="not JSON"):
        await client.post_json("/x", {})


async def test_stream_events_retries_before_the_stream_starts(fake_sleep) -> None:
    answers = iter(
        [
            httpx.Response(500),
            httpx.Response(200, text="data: one\n\ndata: two\n\n"),
        ]
    )
    client = make_client(lambda r: next(answers), fake_sleep)
    assert [e.data async for e in client.stream_events("/x", {})] == ["one", "two"]
    assert len(fake_sleep.delays) == 1


async def test_headers_are_sent_but_never_shown(fake_sleep) -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={})

    client = make_client(handler, fake_sleep)
    await client.post_json("/x", {})
    assert seen == [f"Bearer {SECRET}"]
    assert SECRET not in repr(client)
    assert SECRET not in repr(CTX)


def test_invalid_base_url_is_reported_as_unreachable() -> None:
    from poise.models.http import map_transport_error

    error = map_transport_error(httpx.UnsupportedProtocol("no scheme"), "ftp://x/v1", CTX)
    assert isinstance(error, ModelUnreachableError)
    assert "http://" in str(error)
