"""Server-sent event parsing."""

from __future__ import annotations

import pytest

from poise.models.sse import SSEEvent, aparse_sse, parse_sse


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["data: hello", ""], [SSEEvent("message", "hello")]),
        (["event: ping", "data: {}", ""], [SSEEvent("ping", "{}")]),
        (["data: a", "data: b", ""], [SSEEvent("message", "a\nb")]),
        ([": keep-alive", "", "data: x", ""], [SSEEvent("message", "x")]),
        (["data:no-space", ""], [SSEEvent("message", "no-space")]),
        (["data: [DONE]"], [SSEEvent("message", "[DONE]")]),
        (["data: a\r", "\r", "data: b", ""], [SSEEvent("message", "a"), SSEEvent("message", "b")]),
        (["id: 7", "retry: 10", ""], []),
    ],
    ids=["simple", "named", "multiline", "comment", "no-space", "no-final-blank", "crlf", "no-data"],
)
def test_parse_sse(lines: list[str], expected: list[SSEEvent]) -> None:
    assert list(parse_sse(lines)) == expected


async def test_aparse_sse_reads_async_lines() -> None:
    async def lines():
        for line in ["event: message_start", 'data: {"a": 1}', "", "data: tail"]:
            yield line

    assert [e async for e in aparse_sse(lines())] == [
        SSEEvent("message_start", '{"a": 1}'),
        SSEEvent("message", "tail"),
    ]
