"""Streaming guard overhead: added time-to-first-token and per-chunk cost, with fake token streams.

    .venv/bin/python bench/guard_stream.py

A fake model yields a ~3,000-character reply in 4-character tokens with no delay, so every figure
is the guard's own cost: TTFT is the time until the first released text (the hold-back window has
to fill first), per-chunk is the mean cost of ``StreamGuard.feed``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

from poise.guard.pipeline import load_pipeline
from poise.guard.rails import GuardContext
from poise.guard.streaming import StreamGuard
from poise.guard.types import DetectionContext

REPLY = (
    "You can update your address in the app under Settings, then Profile. If you do not recognise a "
    "payment, freeze the card and call us so we can open a dispute; a new card arrives in five days. "
) * 16
CTX = GuardContext(
    detection=DetectionContext(canary="cnry-7hq2kx9vw4mz8pt3", secrets=("sk-live-Q8w2ZpL4nX7rT1vB",))
)


async def one(pipe, token_chars: int) -> tuple[float, float, list[float]]:
    guard = StreamGuard(pipe, CTX, final_check=False)
    tokens = [REPLY[i : i + token_chars] for i in range(0, len(REPLY), token_chars)]
    t0 = time.perf_counter()
    first = None
    per: list[float] = []
    for tok in tokens:
        c0 = time.perf_counter()
        events = await guard.feed(tok)
        per.append((time.perf_counter() - c0) * 1000)
        if first is None and any(e.kind == "text" for e in events):
            first = (time.perf_counter() - t0) * 1000
    await guard.close()
    return first or 0.0, (time.perf_counter() - t0) * 1000, per


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    pipe = load_pipeline()
    print(f"reply {len(REPLY)} chars; streaming rails: {[r.name for r in pipe.streaming_rails]}; one core")
    for token_chars in (4, 16):
        asyncio.run(one(pipe, token_chars))  # warm-up
        runs = [asyncio.run(one(pipe, token_chars)) for _ in range(20)]
        ttft = statistics.median(r[0] for r in runs)
        per = [p for r in runs for p in r[2]]
        q = statistics.quantiles(per, n=100)
        print(
            f"{token_chars:2d}-char tokens: added TTFT p50 {ttft:6.2f} ms (window fill: "
            f"{StreamGuard(pipe, CTX).hold_back} chars), "
            f"per chunk p50 {statistics.median(per) * 1000:6.0f} us "
            f"p99 {q[98] * 1000:6.0f} us, whole stream {statistics.median(r[1] for r in runs):6.1f} ms"
        )


if __name__ == "__main__":
    main()
