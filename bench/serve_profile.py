"""Where a gateway request spends its time: the in-process request path under cProfile.

The app with rails and audit on, a scripted backend (no network, so only the gateway's own work
is measured), driven through ``httpx.ASGITransport``. The requests rotate over the user messages
and replies of ``bench/serve_overhead.py``. Prints the mean time per request with and without the
rails and the top functions by cumulative and own time.

    .venv/bin/python bench/serve_profile.py            # 2,000 requests
    .venv/bin/python bench/serve_profile.py -n 500 --top 40
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import pstats
import tempfile
import time
from pathlib import Path

import httpx

from poise.models.scripted import ScriptedModel
from poise.server import GatewayConfig, create_app
from serve_overhead import BODIES, REPLIES


def make_app(tmp: Path, rails: bool) -> object:
    config = GatewayConfig.model_validate(
        {
            "backends": {"s": {"model": "scripted"}},
            "models": [{"id": "bank", "persona": "bank-support", "backend": "s"}],
            "guard": {"enabled": rails},
            "sessions": {"enabled": False},
            "audit": {"path": str(tmp / f"audit-{rails}.db")},
        }
    )
    replies = itertools.cycle(REPLIES)
    return create_app(config, models={"s": ScriptedModel(lambda m, p: next(replies))}, host="127.0.0.1")


async def drive(app: object, n: int, profile: cProfile.Profile | None) -> tuple[float, float]:
    """Wall and CPU (this process, all threads) milliseconds per request."""
    lifespan = app.router.lifespan_context(app)  # type: ignore[attr-defined]
    await lifespan.__aenter__()
    try:
        transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            for i in range(50):  # warm caches (compiled prompts, rails)
                r = await client.post("/v1/chat/completions", json=BODIES[i % len(BODIES)])
                assert r.status_code == 200
            if profile is not None:
                profile.enable()
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                r = await client.post("/v1/chat/completions", json=BODIES[i % len(BODIES)])
                assert r.status_code == 200
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            if profile is not None:
                profile.disable()
    finally:
        await lifespan.__aexit__(None, None, None)
    return elapsed / n * 1000, cpu / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for rails in (False, True):
            wall, cpu = asyncio.run(drive(make_app(tmp, rails), args.n, None))
            print(
                f"rails {'on ' if rails else 'off'}: {wall:.3f} ms wall, {cpu:.3f} ms CPU per request "
                "in-process (client included)"
            )
        profile = cProfile.Profile()
        asyncio.run(drive(make_app(tmp, True), args.n, profile))
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
