"""Crash safety of the audit trail: ``kill -9`` the real gateway under load, then check the trail.

* ``audit.wait: true`` -- every request answered 200 has its record, and the chain verifies.
* the default (``wait: false``) -- the chain verifies, and every 200 answered more than the
  group-commit lag before the kill has its record; only the last instants may be missing
  (``docs/design/gateway.md``: a 200 acknowledges the answer; the store acknowledges the record).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .live import LiveGateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKERS = 12
ANSWERS = 60  # kill once this many requests were answered (or after MAX_LOAD_S)
MAX_LOAD_S = 15.0
LAG_S = 0.5  # generous: the background commit lags the answer by milliseconds


def _config(tmp: Path, wait: bool | None) -> str:
    audit = f'path: "{tmp / "audit.db"}"' + ("" if wait is None else f", wait: {str(wait).lower()}")
    return f"""
backends:
  s: {{model: scripted}}
models:
  - {{id: bank, persona: bank-support, backend: s}}
sessions: {{enabled: false}}
audit: {{{audit}}}
"""


async def _load_then_kill(gw: LiveGateway) -> tuple[list[tuple[str, float]], float]:
    """Requests from several workers, ``kill -9`` mid-load. Returns (request id, answered at)."""
    answered: list[tuple[str, float]] = []
    body = {"model": "bank", "messages": [{"role": "user", "content": "Is my card active?"}]}
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=gw.url, timeout=10) as client:
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 200  # warm up

        async def worker() -> None:
            while not stop.is_set():
                try:
                    r = await client.post("/v1/chat/completions", json=body)
                except httpx.HTTPError:
                    if not gw.alive:
                        return
                    continue
                if r.status_code == 200:
                    answered.append((r.headers["x-request-id"], time.monotonic()))

        tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
        deadline = time.monotonic() + MAX_LOAD_S
        while time.monotonic() < deadline and (
            len(answered) < ANSWERS or time.monotonic() - answered[0][1] < 3 * LAG_S
        ):
            await asyncio.sleep(0.01)
        killed_at = time.monotonic()
        gw.kill()  # SIGKILL while requests are in flight
        stop.set()
        await asyncio.gather(*tasks)
    return answered, killed_at


def _recorded(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT body FROM audit_records").fetchall()
    return {json.loads(body)["data"]["request_id"] for (body,) in rows}


def _verify(db: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "poise.cli.main", "audit", "verify", "--db", str(db)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("wait", [pytest.param(True, id="wait"), pytest.param(None, id="default")])
def test_kill_9_under_load_loses_no_acknowledged_audit_record(tmp_path, wait):
    with LiveGateway(_config(tmp_path, wait), tmp_path) as gw:
        answered, killed_at = asyncio.run(_load_then_kill(gw))
    assert len(answered) > 20, "the load produced too few answers to mean anything"
    recorded = _recorded(tmp_path / "audit.db")
    if wait:
        must = [rid for rid, _ in answered]
    else:
        must = [rid for rid, at in answered if at < killed_at - LAG_S]
        assert must, "no answer old enough to check"
    missing = [rid for rid in must if rid not in recorded]
    assert not missing, f"{len(missing)} of {len(must)} acknowledged requests have no audit record"
    verify = _verify(tmp_path / "audit.db")
    assert verify.returncode == 0, verify.stdout + verify.stderr
