"""How long poise adds before the model sees a request: rules + prompt compile + context window.

    .venv/bin/python bench/persona_compile.py [--n 500]

For each built-in persona, times (after warm-up) on a ~60-token user message:
  * ``rules``   – request analysis and the default instruction rules (RuleEngine.default());
  * ``compile`` – compile_persona() with those instructions (Jinja2 templates, cached);
  * ``plan``    – the context-window plan over a 20-turn history (estimated token counts);
and prints p50/p99 in milliseconds, plus the compiled prompt size. Compare with the embedded
model's own prompt processing (bench/local_tokens.py): tens of milliseconds per 100 tokens.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from poise.context.store import StoredMessage
from poise.context.window import ContextWindow
from poise.instructions.engine import RuleEngine
from poise.instructions.types import RequestContext, UserProfile
from poise.models.estimate import estimate_tokens
from poise.models.types import ChatMessage
from poise.persona.compile import compile_persona
from poise.persona.load import builtin_personas, resolve_persona

MESSAGE = (
    "Hi, I'm new to Python. My script reads a CSV of payments and I'd like to sum the amounts per "
    "month, but I keep getting a KeyError on 'date'. How should I structure this?"
)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    for _ in range(20):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    rules = RuleEngine.default()
    history = [
        StoredMessage(i, "user" if i % 2 == 0 else "assistant", f"turn {i}: " + "words " * 30, "ok", 0.0)
        for i in range(40)
    ]
    context = RequestContext(
        messages=(*(ChatMessage(m.role, m.content) for m in history), ChatMessage("user", MESSAGE)),  # type: ignore[arg-type]
        user=UserProfile(expertise="beginner"),
    )
    window = ContextWindow(count_tokens=estimate_tokens, context_window=2048, reserve_tokens=256)
    print(f"{'persona':<16} {'rules p50/p99':>15} {'compile p50/p99':>17} {'plan p50/p99':>15} {'prompt':>8}")
    for name in builtin_personas():
        persona = resolve_persona(name)
        result = rules(context)
        compiled = compile_persona(persona, result)
        r = percentiles(timed(lambda: rules(context), args.n))
        c = percentiles(timed(lambda p=persona, res=result: compile_persona(p, res), args.n))
        p = percentiles(timed(lambda t=compiled.text: window.plan(t, history, MESSAGE), args.n))
        print(
            f"{name:<16} {r[0]:>7.3f}/{r[1]:<7.3f} {c[0]:>8.3f}/{c[1]:<8.3f} {p[0]:>7.3f}/{p[1]:<7.3f}"
            f" {len(compiled.text):>6} ch"
        )
    print("milliseconds per request; fired rules:", ", ".join(f.rule_id for f in result.fired))


if __name__ == "__main__":
    main()
