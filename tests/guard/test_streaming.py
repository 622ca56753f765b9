"""Streaming output rails: nothing sensitive is emitted before it is checked, whatever the chunking."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poise.guard.pipeline import GuardPipeline, load_pipeline
from poise.guard.rails import GuardContext
from poise.guard.streaming import DEFAULT_HOLD_BACK, StreamEvent, StreamGuard, guard_stream, hold_back_for
from poise.guard.types import DetectionContext
from poise.persona.spec import Persona, Refusal

PERSONA = Persona(
    id="p", version="1", name="P", role="r", refusal=Refusal(style="s", message="Not something I can share.")
)
CANARY = "cnry-7hq2kx9vw4mz8pt3"
SECRET = "sk-live-Q8w2ZpL4nX7rT1vB"
CTX = GuardContext(persona=PERSONA, detection=DetectionContext(canary=CANARY, secrets=(SECRET,)))
PIPE: GuardPipeline = load_pipeline()

PREFIX = "Thanks for waiting. Here are the details you asked about for the account "
SENSITIVE = {
    "card": ("4111 1111 1111 1111", "redact"),
    "iban": ("GB82 WEST 1234 5698 7654 32", "redact"),
    "email": ("jane.doe@example.com", "redact"),
    "canary": (CANARY, "block"),
    "secret": (SECRET, "block"),
}


def _chunks(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points) if b > a]


async def _run(chunks: list[str]) -> list[StreamEvent]:
    async def tokens() -> AsyncIterator[str]:
        for c in chunks:
            yield c

    return [e async for e in guard_stream(tokens(), PIPE, CTX, final_check=False)]


@pytest.mark.parametrize("kind", list(SENSITIVE))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=40))
def test_stream_never_emits_a_sensitive_span_whatever_the_chunking(kind, cuts):
    value, expected = SENSITIVE[kind]
    text = f"{PREFIX}{value} and that is all for today, have a great evening and take care."
    events = asyncio.run(_run(_chunks(text, cuts)))
    emitted = "".join(e.text for e in events if e.kind == "text")
    digits = "".join(c for c in value if c.isalnum())
    assert value not in emitted
    assert value[: len(value) // 2] not in emitted  # not even the first half went out before the check
    assert digits not in "".join(c for c in emitted if c.isalnum())
    assert events[-1].kind == "finish"
    if expected == "block":
        assert events[-2].kind == "refusal" and events[-2].text == PERSONA.refusal.message  # type: ignore[union-attr]
        assert events[-1].finish_reason == "content_filter"
        assert emitted == PREFIX[: len(emitted)]  # only clean text before the block
    else:
        assert events[-1].finish_reason == "stop" and "[" in emitted


async def test_clean_stream_is_released_unchanged_with_final_verdict():
    text = "Hello there. " * 40
    guard = StreamGuard(PIPE, CTX)
    out: list[StreamEvent] = []
    for i in range(0, len(text), 4):
        out.extend(await guard.feed(text[i : i + 4]))
    assert "".join(e.text for e in out) == text[: guard.released]
    assert len(text) - guard.released <= DEFAULT_HOLD_BACK + 8  # held back only the window
    out.extend(await guard.close())
    assert "".join(e.text for e in out) == text
    assert out[-1].finish_reason == "stop" and out[-1].verdict is not None


async def test_block_can_end_with_content_filter_only():
    guard = StreamGuard(PIPE, CTX, on_block="content_filter")
    events = await guard.feed(f"the canary is {CANARY}")
    events += await guard.close()
    assert [e.kind for e in events] == ["finish"] and events[0].finish_reason == "content_filter"


def test_hold_back_covers_the_longest_secret():
    long_secret = "x" * 200
    ctx = GuardContext(detection=DetectionContext(secrets=(long_secret,), canary=CANARY))
    assert hold_back_for(ctx) == 201
    assert hold_back_for(GuardContext()) == DEFAULT_HOLD_BACK
