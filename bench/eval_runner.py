"""Eval runner overhead with a scripted model: cases per second, fresh and from the cache.

Run: .venv/bin/python bench/eval_runner.py [--limit N]

Runs every suite (``--limit`` cases each, one 50-turn persona conversation) on ``raw`` and
``poise`` targets backed by the reference oracle, so the figures are poise's own cost (engine,
guard, scoring, cache) without a model. Then reruns from the SQLite cache (re-scoring only) and
prints both rates and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from poise.eval.cache import ResultCache
from poise.eval.cases import SUITES
from poise.eval.reference import oracle
from poise.eval.runner import RunConfig, run_eval
from poise.eval.targets import parse_target

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    model = oracle(DATA)
    config = RunConfig(SUITES, DATA, limit=args.limit, persona_turns=50, persona_conversations=1)
    specs = [parse_target(f"{mode}:oracle", persona="bank-support") for mode in ("raw", "poise")]
    with tempfile.TemporaryDirectory() as tmp:
        cache_path = Path(tmp) / "cache.sqlite"
        t0 = time.perf_counter()
        fresh = asyncio.run(
            run_eval(specs, config, model_factory=lambda _: model, cache=ResultCache(cache_path))
        )
        t1 = time.perf_counter()
        again = asyncio.run(
            run_eval(specs, config, model_factory=lambda _: model, cache=ResultCache(cache_path))
        )
        t2 = time.perf_counter()
    n = len(fresh.results)
    turns = sum(len(r.details.get("turns", ())) or 1 for r in fresh.results)
    print(f"cases: {n} ({turns} model turns) on 2 targets, limit {args.limit} per suite")
    print(f"fresh run:  {t1 - t0:6.2f} s  {n / (t1 - t0):7.1f} cases/s  {turns / (t1 - t0):7.1f} turns/s")
    print(f"from cache: {t2 - t1:6.2f} s  {n / (t2 - t1):7.1f} cases/s  ({again.cached} cached)")
    print(f"ratio fresh/cached: {(t1 - t0) / (t2 - t1):.1f}x")
    for label, r in fresh.readiness.items():
        print(f"{label}: PRS {r.score:.2f} [{r.score_ci[0]:.2f}-{r.score_ci[1]:.2f}]")


if __name__ == "__main__":
    main()
