"""Overload: a flood of concurrent requests against a slow upstream is answered 200, 429 or 503
(quickly, with ``Retry-After``), never a crash, a hang or a 5xx of another kind; the server still
answers afterwards. Real ``poise serve`` subprocess, real upstream on loopback."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from poise.server.overload import ConcurrencyLimit

from .fake_upstream import FakeUpstream
from .live import LiveGateway

FLOOD = 300
CAP = 8


def _config(upstream: str, tmp: Path) -> str:
    return f"""
server: {{max_in_flight: {CAP}, request_timeout_s: 30}}
backends:
  slow: {{model: "openai:mock", base_url: "{upstream}", max_retries: 0, timeout_s: 20}}
models:
  - {{id: bank, persona: bank-support, backend: slow}}
auth: {{anonymous_limits: {{concurrent_requests: 6}}}}
sessions: {{enabled: false}}
audit: {{path: "{tmp / "audit.db"}"}}
"""


async def _flood(url: str, n: int) -> list[tuple[int, str | None, float]]:
    body = {"model": "bank", "messages": [{"role": "user", "content": "Is my card active?"}]}
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one() -> tuple[int, str | None, float]:
            t0 = time.perf_counter()
            r = await client.post(f"{url}/v1/chat/completions", json=body)
            return r.status_code, r.headers.get("retry-after"), time.perf_counter() - t0

        return await asyncio.gather(*(one() for _ in range(n)))


@pytest.mark.integration
@pytest.mark.slow
def test_a_flood_gets_200_429_or_503_quickly_and_the_server_survives(tmp_path):
    with FakeUpstream(delay_s=0.5) as upstream, LiveGateway(_config(upstream.url, tmp_path), tmp_path) as gw:
        upstream.mode = "slow"
        started = time.perf_counter()
        results = asyncio.run(_flood(gw.url, FLOOD))
        elapsed = time.perf_counter() - started
        statuses = Counter(status for status, _, _ in results)
        assert set(statuses) <= {200, 429, 503}, statuses
        assert statuses[200] >= CAP - 2 and statuses[503] + statuses[429] > FLOOD // 2, statuses
        assert all(retry is not None for status, retry, _ in results if status in (429, 503))
        refused = sorted(t for status, _, t in results if status == 503)
        assert refused[len(refused) // 2] < 5.0  # refusals are quick, not queued behind the upstream
        assert elapsed < 25 and gw.alive
        upstream.mode = "ok"
        assert httpx.get(f"{gw.url}/healthz", timeout=5).status_code == 200
        after = httpx.post(
            f"{gw.url}/v1/chat/completions",
            json={"model": "bank", "messages": [{"role": "user", "content": "still there?"}]},
            timeout=10,
        )
        assert after.status_code == 200
        metrics = httpx.get(f"{gw.url}/metrics", timeout=5).text
        assert "poise_overload_rejections_total" in metrics
        assert "poise_requests_in_flight 0.0" in metrics


async def test_the_cap_refuses_before_the_app_runs_and_spares_health_checks():
    entered = asyncio.Event()
    release = asyncio.Event()

    async def app(scope, receive, send):
        entered.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limited = ConcurrencyLimit(app, max_in_flight=1)
    transport = httpx.ASGITransport(limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        first = asyncio.create_task(client.post("/v1/chat/completions", json={}))
        await entered.wait()
        second = await client.post("/v1/chat/completions", json={})
        assert second.status_code == 503 and second.headers["retry-after"] == "1"
        assert second.json()["error"]["code"] == "overloaded"
        health = asyncio.create_task(client.get("/healthz"))  # not counted: reaches the app
        release.set()
        assert (await first).status_code == 200 and (await health).status_code == 200
    assert limited.in_flight == 0
