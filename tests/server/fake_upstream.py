"""A fake OpenAI-compatible upstream on loopback that answers, fails or hangs on demand.

``FakeUpstream().mode = "fail"`` makes every call a 500; ``"hang"`` sleeps ``hang_s`` before
answering (longer than the gateway's backend timeout); ``"slow"`` sleeps ``delay_s`` and then
answers; ``"down"`` closes the connection without an answer. ``calls`` counts the requests that
reached it. Streams (``"stream": true``) are answered as SSE.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["ok", "fail", "hang", "slow", "down"]


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "up-1",
        "object": "chat.completion",
        "created": 1,
        "model": "mock",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
    }


class FakeUpstream:
    """A threaded HTTP server answering ``POST /v1/chat/completions`` with ``text``."""

    def __init__(
        self, text: str = "Your card is active.", *, hang_s: float = 3.0, delay_s: float = 0.3
    ) -> None:
        self.text = text
        self.mode: Mode = "ok"
        self.hang_s = hang_s
        self.delay_s = delay_s
        self.calls = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with owner._lock:
                    owner.calls += 1
                mode = owner.mode
                if mode == "down":
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode == "hang":
                    time.sleep(owner.hang_s)
                elif mode == "slow":
                    time.sleep(owner.delay_s)
                if mode == "fail":
                    self._send(500, "application/json", b'{"error": {"message": "upstream exploded"}}')
                    return
                if body.get("stream"):
                    chunk = {
                        "id": "up-1",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": "mock",
                        "choices": [{"index": 0, "delta": {"content": owner.text}, "finish_reason": "stop"}],
                    }
                    data = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
                    self._send(200, "text/event-stream", data)
                    return
                self._send(200, "application/json", json.dumps(completion(owner.text)).encode())

            def _send(self, status: int, kind: str, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the gateway gave up on this call first
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
