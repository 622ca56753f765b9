"""Latency of the default guard pipeline per exchange (~1k tokens: input + output), on one core.

    .venv/bin/python bench/guard_pipeline.py [--n 300]

Runs ``check_input`` on a ~250-token user message and ``check_output`` on a ~750-token reply
(with a persona carrying rule checks, a canary and a secret), first without the ML injection
classifier (rules only), then with it (inline, and on the rail thread pool). Floors: p50 <= 1 ms
without ML, <= 5 ms with ML.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from poise.guard.pipeline import GuardPipeline
from poise.guard.policy import load_policy
from poise.guard.rails import GuardContext, build_rail
from poise.guard.types import DetectionContext
from poise.persona.spec import Persona, Refusal, Rule, RuleCheck

USER = (
    "Hi, I moved house last month and I need to update the address on my checking account. "
    "I also noticed two card payments I don't recognise from last Tuesday, one at a coffee shop and one "
    "online, and I'd like to know whether I should block the card or wait for them to clear. "
) * 4  # ~1,000 chars, ~250 tokens
REPLY = (
    "I'm sorry about the trouble. You can update your address in the app under Settings, then Profile. "
    "For the two payments, please check whether they are pending; a pending payment can still change. "
    "If you do not recognise them, freeze the card in the app and call us so we can open a dispute. "
    "We will send a new card to your new address within five working days. "
) * 8  # ~3,000 chars, ~750 tokens
PERSONA = Persona(
    id="bank",
    version="1",
    name="Bank",
    role="Helps bank customers.",
    refusal=Refusal(style="kind", message="I can't help with that."),
    rules=[
        Rule(
            do="Be brief",
            check=RuleCheck(
                max_words=900,
                banned_terms=["guarantee"],
                no_emoji=True,
                apologize_first=True,
                reply_language="match_user",
            ),
        )
    ],
    secrets=["ACME-INTERNAL-7731"],
)
CTX = GuardContext(
    persona=PERSONA,
    user_text=USER,
    tier="customer",
    detection=DetectionContext(
        canary="cnry-7hq2kx9vw4mz8pt3",
        secrets=("sk-live-Q8w2ZpL4nX7rT1vB",),
        system_prompt="You are the ACME bank assistant. Be concise and kind.",
    ),
)


def pipeline(classifier: bool, mode: str) -> GuardPipeline:
    policy = load_policy()
    inputs = [
        build_rail("injection", {"classifier": classifier}, mode=mode),
        build_rail("pii"),
        build_rail("topic"),
    ]
    outputs = [build_rail(n) for n in ("pii", "leak", "persona_rules", "refusal")]
    return GuardPipeline(inputs, outputs, policy)


async def measure(pipe: GuardPipeline, n: int) -> list[float]:
    for _ in range(20):  # warm-up: lazy models (langid, classifier), caches
        await pipe.check_input(USER, CTX)
        await pipe.check_output(REPLY, CTX)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        a = await pipe.check_input(USER, CTX)
        b = await pipe.check_output(REPLY, CTX)
        times.append((time.perf_counter() - t0) * 1000)
        assert a.action == "allow" and b.action in ("allow", "log"), (a.reasons, b.reasons)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(f"exchange: input {len(USER)} chars + output {len(REPLY)} chars; one core; n={args.n}")
    for label, classifier, mode in (
        ("without ML (rules only)", False, "inline"),
        ("with ML classifier, inline", True, "inline"),
        ("with ML classifier, thread", True, "thread"),
    ):
        pipe = pipeline(classifier, mode)
        times = asyncio.run(measure(pipe, args.n))
        q = statistics.quantiles(times, n=100)
        print(f"{label:30s} p50 {statistics.median(times):6.2f} ms   p99 {q[98]:6.2f} ms")
        res = (
            asyncio.run(pipe.check_output(REPLY, CTX)).results
            + asyncio.run(pipe.check_input(USER, CTX)).results
        )
        print("    per rail (one run): " + ", ".join(f"{r.rail} {r.latency_ms:.2f}" for r in res))


if __name__ == "__main__":
    main()
