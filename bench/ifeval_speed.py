"""Seconds to score the whole IFEval set (541 prompts, 834 instructions, strict + loose).

Run: .venv/bin/python bench/ifeval_speed.py [--repeat N]

Prints the time to load both files, the one-off langdetect profile load, and the scoring time
(best of N), plus throughput. Uses ../shared/data/ifeval and the published GPT-4 responses.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from poise.eval.datasets import load_ifeval_prompts, load_ifeval_responses
from poise.eval.ifeval import evaluate, pair_responses
from poise.eval.ifeval.text import detect_language

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ifeval"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    t0 = time.perf_counter()
    prompts = load_ifeval_prompts(DATA / "input_data.jsonl")
    responses = load_ifeval_responses(DATA / "input_response_data_gpt4_20231107_145030.jsonl")
    pairing = pair_responses(prompts, responses)
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    detect_language("warm up the language profiles")
    warm_s = time.perf_counter() - t0

    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        report = evaluate(prompts, pairing.responses)
        runs.append(time.perf_counter() - t0)
    best = min(runs)
    print(f"load + validate both files : {load_s:.3f} s")
    print(f"langdetect profiles (once) : {warm_s:.3f} s")
    print(
        f"score 541 prompts (best/{args.repeat}) : {best:.3f} s  "
        f"({report.instructions / best:,.0f} instructions/s)"
    )
    print(f"total, cold                : {load_s + warm_s + runs[0]:.3f} s")
    figures = (report.prompt_strict, report.instruction_strict, report.prompt_loose, report.instruction_loose)
    print("accuracies                 : " + " / ".join(f"{100 * f:.2f}" for f in figures))


if __name__ == "__main__":
    main()
