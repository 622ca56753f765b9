"""``poise serve`` as a real subprocess (uvicorn, its own process) for the overload and crash tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveGateway:
    """``python -m poise.cli.main serve --config <yaml>`` on a free loopback port."""

    def __init__(self, config_yaml: str, tmp: Path) -> None:
        self.config = tmp / "gateway.yaml"
        self.config.write_text(config_yaml, encoding="utf-8")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LiveGateway:
        cmd = [sys.executable, "-m", "poise.cli.main", "serve", "--config", str(self.config)]
        cmd += ["--port", str(self.port), "--log-level", "warning"]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"poise serve exited: {self.log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("poise serve did not become ready in 60 s")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """``kill -9``: no shutdown hook, no flush."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def __exit__(self, *exc: object) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class ServerThread:
    """uvicorn serving an ASGI ``app`` on an ephemeral loopback port, in a thread of this process."""

    def __init__(self, app: object, http: object = "auto") -> None:
        import threading

        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", http=http)  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}/v1"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
