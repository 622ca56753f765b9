"""Tokens per second of poise's LocalModel against raw llama-cpp-python, same prompt and params.

Both sides load the same GGUF with the same settings and generate greedily (temperature 0, fixed
seed) so they produce the same tokens; runs are interleaved so machine noise hits both alike, and
the median of each mode is compared. poise must keep >= 95 % of raw throughput.

    .venv/bin/python bench/local_tokens.py [--reps 7] [--max-tokens 128] [--json] [--floor 0.95]
        [--metric wall|cpu]

Wall-clock tokens/s is what users see but swings on a shared machine; tokens per CPU-second of the
whole process (every thread counted, so poise's worker threads and event loop are included) is
steady under contention. Both are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass

import llama_cpp

from poise.models import ChatMessage, GenerationParams, LocalModel

PROMPT = "Write a long story about a dragon who learns to bake bread."
SYSTEM = "You are a helpful storyteller."


@dataclass(frozen=True)
class Run:
    mode: str
    seconds: float
    cpu_seconds: float
    tokens: int
    text: str

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds

    @property
    def tokens_per_cpu_s(self) -> float:
        return self.tokens / self.cpu_seconds


class Clock:
    """Wall time and the process's CPU time (all threads): CPU time is steady on a busy machine."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def raw_generate(llama: llama_cpp.Llama, messages: list[dict[str, str]], max_tokens: int, seed: int) -> Run:
    clock = Clock()
    result = llama.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0, seed=seed)
    elapsed, cpu = clock.stop()
    text = result["choices"][0]["message"]["content"] or ""  # type: ignore[index]
    return Run("raw generate", elapsed, cpu, result["usage"]["completion_tokens"], text)  # type: ignore[index]


def raw_stream(llama: llama_cpp.Llama, messages: list[dict[str, str]], max_tokens: int, seed: int) -> Run:
    clock = Clock()
    parts = []
    for chunk in llama.create_chat_completion(
        messages, max_tokens=max_tokens, temperature=0.0, seed=seed, stream=True
    ):
        content = chunk["choices"][0]["delta"].get("content")  # type: ignore[index,union-attr]
        if content:
            parts.append(content)
    elapsed, cpu = clock.stop()
    return Run("raw stream", elapsed, cpu, -1, "".join(parts))  # tokens filled in from generate


async def poise_generate(model: LocalModel, messages: list[ChatMessage], params: GenerationParams) -> Run:
    clock = Clock()
    response = await model.generate(messages, params)
    elapsed, cpu = clock.stop()
    return Run("poise generate", elapsed, cpu, response.usage.completion_tokens, response.text)


async def poise_stream(model: LocalModel, messages: list[ChatMessage], params: GenerationParams) -> Run:
    clock = Clock()
    parts = []
    tokens = 0
    async for chunk in model.stream(messages, params):
        parts.append(chunk.delta)
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    elapsed, cpu = clock.stop()
    return Run("poise stream", elapsed, cpu, tokens, "".join(parts))


MODES = ("raw generate", "poise generate", "raw stream", "poise stream")
METRICS = {
    "median": "median wall-clock",
    "best": "best wall-clock",  # the least disturbed run
    "cpu": "median per CPU-second",  # CPU time of the whole process
}


def summarise(runs: dict[str, list[Run]]) -> dict[str, dict[str, float]]:
    """Per metric: each mode's tokens/s, and poise/raw ratios for generate and stream."""
    values = {
        "median": {m: statistics.median(r.tokens_per_s for r in runs[m]) for m in MODES},
        "best": {m: max(r.tokens_per_s for r in runs[m]) for m in MODES},
        "cpu": {m: statistics.median(r.tokens_per_cpu_s for r in runs[m]) for m in MODES},
    }
    out: dict[str, dict[str, float]] = {}
    for metric, by_mode in values.items():
        out[metric] = {mode: round(v, 2) for mode, v in by_mode.items()}
        for kind in ("generate", "stream"):
            out[metric][f"ratio {kind}"] = round(by_mode[f"poise {kind}"] / by_mode[f"raw {kind}"], 4)
    for kind in ("generate", "stream"):
        pairs = zip(runs[f"poise {kind}"], runs[f"raw {kind}"], strict=True)
        ratio = statistics.median(p.tokens_per_s / r.tokens_per_s for p, r in pairs)
        out["median"][f"paired ratio {kind}"] = round(ratio, 4)
    return out


async def bench(reps: int, max_tokens: int, seed: int, n_ctx: int) -> dict[str, object]:
    model = LocalModel(n_ctx=n_ctx)
    raw = llama_cpp.Llama(model_path=str(model.path), n_ctx=n_ctx, verbose=False)
    model.load()
    chat = [ChatMessage("system", SYSTEM), ChatMessage("user", PROMPT)]
    raw_messages = [m.to_dict() for m in chat]
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=seed)

    # Warm-up: llama.cpp's first decode on a fresh context is slow, on both sides.
    raw_generate(raw, raw_messages, max_tokens, seed)
    await poise_generate(model, chat, params)

    runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
    for rep in range(reps):
        # Alternate who goes first so neither side always runs right after the other.
        for kind in ("generate", "stream"):
            for side in ("raw", "poise") if rep % 2 == 0 else ("poise", "raw"):
                if side == "poise":
                    run = await (poise_generate if kind == "generate" else poise_stream)(model, chat, params)
                elif kind == "generate":
                    run = raw_generate(raw, raw_messages, max_tokens, seed)
                else:  # raw streams carry no usage: the greedy reply has as many tokens as raw generate's
                    run = raw_stream(raw, raw_messages, max_tokens, seed)
                    run = Run(
                        run.mode, run.seconds, run.cpu_seconds, runs["raw generate"][-1].tokens, run.text
                    )
                runs[f"{side} {kind}"].append(run)

    texts = {r.text for rs in runs.values() for r in rs}
    return {
        "model": model.model_id,
        "max_tokens": max_tokens,
        "reps": reps,
        "completion_tokens": sorted({r.tokens for rs in runs.values() for r in rs}),
        "same_text_everywhere": len(texts) == 1,
        "metrics": summarise(runs),
        "runs": {
            mode: [{"seconds": r.seconds, "cpu_seconds": r.cpu_seconds, "tokens": r.tokens} for r in rs]
            for mode, rs in runs.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--floor", type=float, default=0.95, help="fail (exit 1) below this ratio")
    parser.add_argument(
        "--metric", choices=tuple(METRICS), default="median", help="what the floor applies to"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    result = asyncio.run(bench(args.reps, args.max_tokens, args.seed, args.n_ctx))
    metrics = result["metrics"]
    assert isinstance(metrics, dict)
    chosen = metrics[args.metric]
    ok = min(chosen["ratio generate"], chosen["ratio stream"]) >= args.floor
    if args.json:
        print(json.dumps(result | {"floor": args.floor, "floor_metric": args.metric, "ok": ok}, indent=2))
        return 0 if ok else 1
    print(
        f"model {result['model']}, {result['reps']} reps, max_tokens {result['max_tokens']}, "
        f"completion tokens {result['completion_tokens']}, "
        f"same text everywhere: {result['same_text_everywhere']}"
    )
    print(f"{'tokens/s':<34}{'raw':>8}{'poise':>8}{'ratio':>8}")
    for metric, label in METRICS.items():
        for kind in ("generate", "stream"):
            row = metrics[metric]
            print(
                f"{kind + ', ' + label:<34.34}{row['raw ' + kind]:>8.1f}{row['poise ' + kind]:>8.1f}"
                f"{row['ratio ' + kind]:>8.3f}"
            )
    paired = metrics["median"]
    print(
        f"median of per-rep ratios: generate {paired['paired ratio generate']:.3f}, "
        f"stream {paired['paired ratio stream']:.3f}"
    )
    print(f"floor {args.floor} on {args.metric} ratios: {'OK' if ok else 'BELOW FLOOR'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
