"""Server-sent events, the wire format both OpenAI and Anthropic use for streaming.

An event is a group of ``field: value`` lines ended by a blank line; ``data`` lines are joined with
newlines, lines starting with ``:`` are comments (keep-alives). Parsing is pure and line based so it
can be tested without a server and fed from ``httpx.Response.aiter_lines()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event: its ``event`` name (``"message"`` when none is given) and ``data``."""

    event: str
    data: str


class SSEDecoder:
    """Turns lines into :class:`SSEEvent` values; feed it every line, then call :meth:`flush`."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SSEEvent | None:
        """Consume one line (without its newline); return an event when ``line`` completes one."""
        line = line.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def flush(self) -> SSEEvent | None:
        """Return the pending event, if any (a stream may end without a final blank line)."""
        if not self._data and not self._event:
            return None
        event = SSEEvent(event=self._event or "message", data="\n".join(self._data))
        self._event = ""
        self._data = []
        return event


def parse_sse(lines: Iterable[str]) -> Iterator[SSEEvent]:
    """Yield the events in ``lines``."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
    last = decoder.flush()
    if last is not None:
        yield last


async def aparse_sse(lines: AsyncIterable[str]) -> AsyncIterator[SSEEvent]:
    """Yield the events in an async stream of lines."""
    decoder = SSEDecoder()
    async for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
    last = decoder.flush()
    if last is not None:
        yield last
