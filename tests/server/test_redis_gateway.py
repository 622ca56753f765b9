"""``limits.backend: redis`` in the gateway: two real gateway processes share one limit; Redis down.

The two-process test runs ``poise serve`` twice (uvicorn subprocesses) against one real Redis:
a tenant limited to 10 requests a minute gets exactly 10 answers across both, and 429 with
``Retry-After`` for the rest.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import KEY, gateway_config
from tests.server.live import LiveGateway
from tests.services import RedisServer, free_port, redis_server

from poise.errors import ConfigError
from poise.guard.ratelimit import RateLimits
from poise.server import hash_key
from poise.server.config import GatewayConfig
from poise.server.errors import APIError
from poise.server.limits import GatewayLimiter
from poise.server.limits_redis import RedisRateLimiter
from poise.server.metrics import GatewayMetrics

__all__ = ["redis_server"]

pytestmark = pytest.mark.integration


def _yaml(redis_url: str, audit: Path, prefix: str) -> str:
    return f"""
backends: {{s: {{model: scripted}}}}
models: [{{id: bank, persona: bank-support, backend: s}}]
guard: {{enabled: false}}
audit: {{path: "{audit}"}}
auth: {{require_keys: true}}
limits: {{backend: redis, redis_url: "{redis_url}", key_prefix: "{prefix}"}}
tenants:
  acme:
    limits: {{requests_per_minute: 10}}
    keys: [{{id: acme-prod, sha256: {hash_key(KEY)}}}]
"""


@pytest.mark.slow
async def test_two_gateway_processes_share_one_limit(redis_server: RedisServer, tmp_path: Path) -> None:
    gateways = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        yaml = _yaml(redis_server.url, tmp_path / name / "audit.db", f"two-{tmp_path.name}")
        gateways.append(LiveGateway(yaml, tmp_path / name))
    with ThreadPoolExecutor(2) as pool:  # start both at once: each takes seconds to import
        list(pool.map(lambda g: g.__enter__(), gateways))
    try:
        body = {"model": "bank", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(timeout=30) as client:
            replies = await asyncio.gather(
                *(
                    client.post(f"{g.url}/v1/chat/completions", json=body, headers=headers)
                    for _ in range(8)
                    for g in gateways
                )
            )
        statuses = [r.status_code for r in replies]
        assert statuses.count(200) == 10, statuses
        assert statuses.count(429) == 6, statuses
        by_gateway = [statuses[i::2].count(200) for i in range(2)]
        assert all(n > 0 for n in by_gateway), by_gateway  # both served: the limit is shared
        for r in replies:
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
                assert r.json()["error"]["type"] == "rate_limit_error"
    finally:
        for g in gateways:
            g.__exit__(None, None, None)


def test_unreachable_redis_is_a_config_error_at_start(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    config = gateway_config(
        tmp_path,
        limits={"backend": "redis", "redis_url": url, "timeout_s": 0.2},
        tenants={
            "acme": {"limits": {"requests_per_minute": 5}, "keys": [{"id": "k", "sha256": hash_key(KEY)}]}
        },
    )
    with pytest.raises(ConfigError, match=r"limits\.redis_url: cannot reach Redis"):
        GatewayLimiter(config, GatewayMetrics())


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"backend": "redis"}, "needs redis_url"),
        ({"backend": "redis", "redis_url": "http://x"}, "must start with redis://"),
        ({"backend": "memcached"}, "'memory' or 'redis'"),
    ],
)
def test_limits_section_is_validated(tmp_path: Path, limits: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gateway_config(tmp_path, limits=limits)


async def test_redis_failure_during_serving_fails_closed_with_503(tmp_path: Path) -> None:
    config: GatewayConfig = gateway_config(
        tmp_path,
        tenants={
            "acme": {"limits": {"requests_per_minute": 5}, "keys": [{"id": "k", "sha256": hash_key(KEY)}]}
        },
    )
    dead = RedisRateLimiter(
        f"redis://127.0.0.1:{free_port()}/0",
        RateLimits(),
        overrides={"tenant:acme": RateLimits(requests_per_minute=5)},
        timeout_s=0.2,
    )
    metrics = GatewayMetrics()
    limiter = GatewayLimiter(config, metrics, limiter=dead)
    principal = limiter_principal(config)
    try:
        with pytest.raises(APIError) as info:
            await limiter.admit(principal, tokens=10)
        assert info.value.status == 503 and info.value.code == "rate_limiter_unavailable"
        assert info.value.retry_after == 1 and "127.0.0.1" not in info.value.message
    finally:
        await limiter.aclose()


def limiter_principal(config: GatewayConfig) -> Any:
    from poise.server.auth import KeyRing

    return KeyRing(config, require_keys=True).authenticate(f"Bearer {KEY}")
