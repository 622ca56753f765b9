"""Score a set of responses against IFEval prompts, from Python or from two files.

Responses are paired with prompts in the first way that covers every prompt:

1. by ``key``, when every response line carries one;
2. by prompt text, when every prompt's text appears in the response file (extra responses are
   ignored, as upstream does);
3. by line order, when both files have the same number of lines. The published GPT-4 file needs
   this: its prompt for key 2785 says "at least one placeholder" where ``input_data.jsonl`` says
   "at least 3 placeholders"; the pairing reports such lines in ``mismatched_keys``.

Otherwise the missing prompts are a :class:`~poise.errors.DatasetError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from poise.errors import DatasetError
from poise.eval.datasets import IFEvalPrompt, IFEvalResponse, load_ifeval_prompts, load_ifeval_responses
from poise.eval.ifeval.registry import build_checker
from poise.eval.ifeval.scoring import IFEvalReport, score_prompt, summarize


@dataclass(frozen=True)
class Pairing:
    """Which response answers which prompt, and how that was decided."""

    responses: tuple[str, ...]
    method: Literal["key", "prompt", "line"]
    mismatched_keys: tuple[int, ...] = ()


def pair_responses(
    prompts: Sequence[IFEvalPrompt], responses: Sequence[IFEvalResponse], *, path: Path | None = None
) -> Pairing:
    """Pair each prompt with its response (see the module docstring for the rules)."""
    if responses and all(r.key is not None for r in responses):
        by_key = {r.key: r.response for r in responses}
        missing = [p.key for p in prompts if p.key not in by_key]
        if not missing:
            return Pairing(tuple(by_key[p.key] for p in prompts), "key")
        raise _missing(missing, path, "by key")
    by_prompt = {r.prompt: r.response for r in responses}
    missing = [p.key for p in prompts if p.prompt not in by_prompt]
    if not missing:
        return Pairing(tuple(by_prompt[p.prompt] for p in prompts), "prompt")
    if len(responses) == len(prompts):
        mismatched = tuple(p.key for p, r in zip(prompts, responses, strict=True) if p.prompt != r.prompt)
        return Pairing(tuple(r.response for r in responses), "line", mismatched)
    raise _missing(missing, path, "by prompt text, and the line counts differ")


def _missing(keys: list[int], path: Path | None, how: str) -> DatasetError:
    shown = ", ".join(str(k) for k in keys[:10]) + (" ..." if len(keys) > 10 else "")
    return DatasetError(
        f"no response for {len(keys)} prompt(s) (keys {shown}) when pairing {how}; give every prompt "
        "a line with the same 'prompt' text (or a 'key'), or keep both files in the same order",
        path=path,
    )


def evaluate(prompts: Sequence[IFEvalPrompt], responses: Sequence[str]) -> IFEvalReport:
    """Score ``responses[i]`` against ``prompts[i]`` in strict and loose modes."""
    if len(prompts) != len(responses):
        raise DatasetError(f"{len(prompts)} prompts but {len(responses)} responses")
    results = []
    for prompt, response in zip(prompts, responses, strict=True):
        checkers = [
            (instruction_id, build_checker(instruction_id, kwargs, prompt.prompt))
            for instruction_id, kwargs in zip(prompt.instruction_ids, prompt.kwargs, strict=True)
        ]
        results.append(score_prompt(str(prompt.key), checkers, response))
    return summarize(results)


@dataclass(frozen=True)
class IFEvalRun:
    """A scored response file: the report and how responses were paired with prompts."""

    report: IFEvalReport
    pairing: Pairing


def evaluate_files(input_path: Path, responses_path: Path) -> IFEvalRun:
    """Load IFEval's ``input_data.jsonl`` and a response file, pair them and score them."""
    prompts = load_ifeval_prompts(input_path)
    pairing = pair_responses(prompts, load_ifeval_responses(responses_path), path=responses_path)
    return IFEvalRun(evaluate(prompts, pairing.responses), pairing)
