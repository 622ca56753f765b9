"""Output rails on a token stream, with a hold-back window so nothing is emitted unchecked.

A streamed reply cannot be checked once at the end: by then the user has read it. :class:`StreamGuard`
keeps the last ``hold_back`` characters of the stream unreleased and runs the pipeline's streaming
rails (``stream=True``: PII, leak) on every chunk over the unreleased text plus ``hold_back``
characters of already released context. Text is released only once it is at least ``hold_back``
characters behind the end of the stream, at a whitespace boundary, and never in the middle of a
span the policy wants redacted. Because every pattern is shorter than the window (a card number
with separators is 37 characters, an IBAN 42, the canary and named secrets are measured per
session), a pattern is always complete in the buffer before its first character could be released;
whitespace-free runs (e-mails, keys, JWTs) are held whole up to :data:`MAX_RUN`.

On ``redact`` the spans are masked before release. On ``block``/``escalate`` (and ``rewrite``, which
cannot happen mid-stream) the stream stops and the persona's refusal is emitted instead (or only a
``content_filter`` finish). When the stream ends, the whole reply goes through ``check_output`` for
whole-reply rails (persona rules, refusal telemetry); its verdict rides on the finish event.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Literal

from poise.guard.pipeline import GuardPipeline, GuardVerdict
from poise.guard.rails import GuardContext
from poise.guard.types import Span

__all__ = ["DEFAULT_HOLD_BACK", "MAX_RUN", "StreamEvent", "StreamGuard", "guard_stream", "hold_back_for"]

DEFAULT_HOLD_BACK = 64
"""Covers a card number with separators (≤ 37), an IBAN with spaces (≤ 42), a phone, an address line."""
MAX_RUN = 4096
"""A whitespace-free run longer than this is released even though it is not finished."""
_SPACE_RE = re.compile(r"\s")


def hold_back_for(ctx: GuardContext, minimum: int = DEFAULT_HOLD_BACK) -> int:
    """The window for this session: at least ``minimum`` and longer than the canary and every secret."""
    lengths = [len(s) for s in ctx.detection.secrets]
    if ctx.detection.canary:
        lengths.append(len(ctx.detection.canary))
    if ctx.persona is not None:
        lengths.extend(len(s) for s in ctx.persona.secrets)
    return max([minimum, *(n + 1 for n in lengths)])


@dataclass(frozen=True)
class StreamEvent:
    """What the guarded stream yields: released ``text``, a ``refusal`` or the ``finish``."""

    kind: Literal["text", "refusal", "finish"]
    text: str = ""
    finish_reason: Literal["stop", "content_filter"] | None = None
    verdict: GuardVerdict | None = None


class StreamGuard:
    """Feed chunks in, get checked text out. One instance per streamed reply.

    Args:
        pipeline: its streaming output rails run per chunk; ``check_output`` runs at the end.
        ctx: the exchange's context (tier, tenant, persona, secrets, canary).
        hold_back: window in characters (default :func:`hold_back_for`).
        on_block: emit the persona's ``refusal`` text, or only a ``content_filter`` finish.
        final_check: run the full output pipeline on the whole reply when the stream ends.
    """

    def __init__(
        self,
        pipeline: GuardPipeline,
        ctx: GuardContext | None = None,
        *,
        hold_back: int | None = None,
        on_block: Literal["refusal", "content_filter"] = "refusal",
        final_check: bool = True,
    ) -> None:
        self.pipeline = pipeline
        self.ctx = ctx or GuardContext()
        self.hold_back = hold_back if hold_back is not None else hold_back_for(self.ctx)
        self.on_block = on_block
        self.final_check = final_check
        self.rails = pipeline.streaming_rails
        self._tail = ""  # last hold_back released characters: context for patterns at the boundary
        self._pending = ""
        self._raw: list[str] = []
        self.released = 0
        self.stopped = False
        self.checks = 0

    async def feed(self, chunk: str) -> list[StreamEvent]:
        """Add a chunk; returns the text now safe to emit (or the refusal that ends the stream)."""
        if self.stopped or not chunk:
            return []
        self._raw.append(chunk)
        self._pending += chunk
        return await self._step(final=False)

    async def close(self) -> list[StreamEvent]:
        """End of stream: check and release the rest, then the finish event."""
        if self.stopped:
            return []
        events = await self._step(final=True)
        if self.stopped:
            return events
        self.stopped = True
        verdict = None
        reason: Literal["stop", "content_filter"] = "stop"
        if self.final_check:
            verdict = await self.pipeline.check_output("".join(self._raw), self.ctx)
            if verdict.blocked:  # too late to unsay; the finish reason tells the client
                reason = "content_filter"
        events.append(StreamEvent("finish", finish_reason=reason, verdict=verdict))
        return events

    async def _step(self, *, final: bool) -> list[StreamEvent]:
        window = self._tail + self._pending
        offset = len(self._tail)
        verdict: GuardVerdict | None = None
        spans: list[Span] = []
        if self.rails:
            verdict = await self.pipeline.check_rails(self.rails, "output", window, self.ctx)
            self.checks += 1
            if verdict.action in ("block", "escalate", "rewrite"):
                return self._block(verdict)
            if verdict.action == "redact":
                spans = [
                    Span(max(s.start - offset, 0), s.end - offset, s.label)
                    for r in verdict.reasons
                    if r.action == "redact"
                    for s in r.spans
                    if s.end > offset
                ]
        cut = len(self._pending) if final else self._release_point()
        for s in spans:  # never release half of a span that is to be masked
            if s.start < cut < s.end:
                cut = s.start
        if cut <= 0:
            return []
        out = self.pipeline.redactor(self._pending[:cut], [s for s in spans if s.end <= cut])
        self._pending = self._pending[cut:]
        self._tail = (self._tail + out)[-self.hold_back :]
        self.released += len(out)
        return [StreamEvent("text", out)]

    def _release_point(self) -> int:
        limit = len(self._pending) - self.hold_back
        if limit <= 0:
            return 0
        # Release up to the last whitespace at or before the limit, so no word, e-mail, key or
        # URL is ever cut in two; a pathological run without whitespace is bounded by MAX_RUN.
        for i in range(limit, 0, -1):
            if _SPACE_RE.match(self._pending, i - 1):
                return i
        return limit if len(self._pending) > MAX_RUN else 0

    def _block(self, verdict: GuardVerdict) -> list[StreamEvent]:
        self.stopped = True
        self._pending = ""
        if self.on_block == "content_filter":
            return [StreamEvent("finish", finish_reason="content_filter", verdict=verdict)]
        message = verdict.message or self.pipeline.refusal_message(self.ctx)
        return [
            StreamEvent("refusal", message, verdict=verdict),
            StreamEvent("finish", finish_reason="content_filter", verdict=verdict),
        ]


async def guard_stream(
    tokens: AsyncIterable[str], pipeline: GuardPipeline, ctx: GuardContext | None = None, **kwargs: object
) -> AsyncIterator[StreamEvent]:
    """Wrap a token stream: yields checked text, then a refusal or the finish event.

    Keyword arguments go to :class:`StreamGuard`. Stops consuming ``tokens`` after a block.
    """
    guard = StreamGuard(pipeline, ctx, **kwargs)  # type: ignore[arg-type]
    async for token in tokens:
        for event in await guard.feed(token):
            yield event
        if guard.stopped:
            return
    for event in await guard.close():
        yield event
