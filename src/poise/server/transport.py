"""One write per response: uvicorn's HTTP protocol with the header block held for the body.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body in a second write when ``http.response.body`` follows.
On loopback and in VMs every write to an idle peer costs a wake-up (tens to a hundred
microseconds here), and the client wakes twice: once for the headers, once for the body. The
gateway's answers are small and their body follows at once, so :class:`CoalescingHttpProtocol`
holds a header block until the next write (or, at the latest, the next event-loop iteration)
and sends both together. Nothing else changes: every other write, and ``close``, goes out in
order, after anything held.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpProtocol", "CoalescingTransport"]

_HEAD = b"HTTP/1.1 "
_HEAD_END = b"\r\n\r\n"


class CoalescingTransport:
    """Wraps a transport: a write that is exactly a response head waits for the next write."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
            return
        if isinstance(data, bytes) and data.startswith(_HEAD) and data.endswith(_HEAD_END):
            self._held = data
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held header block now (the body did not follow in the same iteration)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def writelines(self, list_of_data: Any) -> None:
        self.flush()
        self._transport.writelines(list_of_data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ...
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing each small response in one piece."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
