"""Latency of the default guard pipeline per exchange (~1k tokens: input + output), on one core.

    .venv/bin/python bench/guard_pipeline.py [--n 300] [--runs 5]

Runs ``check_input`` on a ~250-token user message and ``check_output`` on a ~750-token reply
(with a persona carrying rule checks, a canary and a secret), first without the ML injection
classifier (rules only), then with it (inline, and on the rail thread pool). Floors: p50 <= 1 ms
without ML, <= 5 ms with ML.

Each exchange gets freshly built copies of the texts, so nothing can be served from a cache keyed
on the string object. The box is shared, so each configuration is measured ``--runs`` times and
the median of the runs' percentiles is reported (with the spread of the p50s), plus each rail's
median latency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from poise.guard.pipeline import GuardPipeline
from poise.guard.policy import load_policy
from poise.guard.rails import ExecutionMode, GuardContext, build_rail
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


def pipeline(classifier: bool, mode: ExecutionMode) -> GuardPipeline:
    policy = load_policy()
    inputs = [
        build_rail("injection", {"classifier": classifier}, mode=mode),
        build_rail("pii"),
        build_rail("topic"),
    ]
    outputs = [build_rail(n) for n in ("pii", "leak", "persona_rules", "refusal")]
    return GuardPipeline(inputs, outputs, policy)


def fresh(text: str) -> str:
    """An equal string that is a new object (defeats any identity-keyed cache)."""
    return "".join(list(text))


async def measure(pipe: GuardPipeline, n: int) -> tuple[list[float], dict[str, list[float]]]:
    for _ in range(20):  # warm-up: lazy models (langid, classifier), the system-prompt index
        await pipe.check_input(fresh(USER), CTX)
        await pipe.check_output(fresh(REPLY), CTX)
    times: list[float] = []
    rails: dict[str, list[float]] = {}
    for _ in range(n):
        user, reply = fresh(USER), fresh(REPLY)
        t0 = time.perf_counter()
        a = await pipe.check_input(user, CTX)
        b = await pipe.check_output(reply, CTX)
        times.append((time.perf_counter() - t0) * 1000)
        assert a.action == "allow" and b.action in ("allow", "log"), (a.reasons, b.reasons)
        for stage, verdict in (("in", a), ("out", b)):
            for r in verdict.results:
                rails.setdefault(f"{r.rail}/{stage}", []).append(r.latency_ms)
    return times, rails


def _pct(times: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(times, n=100)
    return statistics.median(times), q[94], q[98]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300, help="exchanges per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per configuration")
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
        runs = [asyncio.run(measure(pipe, args.n)) for _ in range(args.runs)]
        pcts = [_pct(times) for times, _ in runs]
        p50, p95, p99 = (statistics.median(p[k] for p in pcts) for k in range(3))
        spread = f"{min(p[0] for p in pcts):.2f}-{max(p[0] for p in pcts):.2f}"
        print(
            f"{label:28s} p50 {p50:5.2f} ms  p95 {p95:5.2f} ms  p99 {p99:5.2f} ms"
            f"   (p50 of {args.runs} runs: {spread})"
        )
        per_rail = {k: statistics.median(v) for k, v in runs[len(runs) // 2][1].items()}
        print("    rail p50 (ms): " + ", ".join(f"{k} {v:.3f}" for k, v in per_rail.items()))


if __name__ == "__main__":
    main()
