"""Strict and loose IFEval scoring, and the four accuracies the paper reports.

*Strict*: the response as given must pass the checker. *Loose* (an upper bound that forgives
presentation): the instruction counts as followed if any of eight variants passes — the
response with its first line, its last line or both removed, each with and without every ``*``
removed (markdown emphasis). An empty or blank response follows nothing.

Accuracy is reported at the prompt level (every instruction of the prompt followed) and at the
instruction level (each instruction on its own), in both modes, plus a per-instruction breakdown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from poise.eval.ifeval.checks import InstructionChecker


def loose_variants(response: str) -> tuple[str, ...]:
    """The eight versions of ``response`` the loose mode tries (the first is the response)."""
    lines = response.split("\n")
    without_first = "\n".join(lines[1:]).strip()
    without_last = "\n".join(lines[:-1]).strip()
    without_both = "\n".join(lines[1:-1]).strip()
    return (
        response,
        response.replace("*", ""),
        without_first,
        without_last,
        without_both,
        without_first.replace("*", ""),
        without_last.replace("*", ""),
        without_both.replace("*", ""),
    )


def follows_strict(checker: InstructionChecker, response: str) -> bool:
    """Whether ``response`` follows the instruction as written."""
    return bool(response.strip()) and checker.check(response)


def follows_loose(checker: InstructionChecker, variants: Sequence[str]) -> bool:
    """Whether any loose variant (see :func:`loose_variants`) follows the instruction."""
    return any(v.strip() and checker.check(v) for v in variants)


@dataclass(frozen=True)
class PromptResult:
    """One prompt's verdicts, one per instruction, in the prompt's instruction order."""

    key: str
    instruction_ids: tuple[str, ...]
    strict: tuple[bool, ...]
    loose: tuple[bool, ...]

    @property
    def all_strict(self) -> bool:
        return all(self.strict)

    @property
    def all_loose(self) -> bool:
        return all(self.loose)


def score_prompt(key: str, checkers: Sequence[tuple[str, InstructionChecker]], response: str) -> PromptResult:
    """Check one response against each ``(instruction_id, checker)`` of its prompt."""
    variants = loose_variants(response)
    return PromptResult(
        key=key,
        instruction_ids=tuple(i for i, _ in checkers),
        strict=tuple(follows_strict(c, response) for _, c in checkers),
        loose=tuple(follows_loose(c, variants) for _, c in checkers),
    )


@dataclass(frozen=True)
class InstructionStats:
    """How often one instruction id (or group) was followed."""

    total: int
    strict: int
    loose: int

    @property
    def strict_accuracy(self) -> float:
        return self.strict / self.total if self.total else 0.0

    @property
    def loose_accuracy(self) -> float:
        return self.loose / self.total if self.total else 0.0


@dataclass(frozen=True)
class IFEvalReport:
    """The four IFEval accuracies (fractions in [0, 1]) and the per-instruction breakdown."""

    prompts: int
    instructions: int
    prompt_strict: float
    instruction_strict: float
    prompt_loose: float
    instruction_loose: float
    by_instruction: dict[str, InstructionStats] = field(default_factory=dict)
    by_group: dict[str, InstructionStats] = field(default_factory=dict)
    results: tuple[PromptResult, ...] = ()

    def to_dict(self, *, include_results: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; per-prompt verdicts only when ``include_results``."""

        def stats(table: dict[str, InstructionStats]) -> dict[str, dict[str, float | int]]:
            return {
                name: {
                    "total": s.total,
                    "strict_accuracy": round(s.strict_accuracy, 6),
                    "loose_accuracy": round(s.loose_accuracy, 6),
                }
                for name, s in table.items()
            }

        data: dict[str, Any] = {
            "prompts": self.prompts,
            "instructions": self.instructions,
            "prompt_level_strict_accuracy": round(self.prompt_strict, 6),
            "instruction_level_strict_accuracy": round(self.instruction_strict, 6),
            "prompt_level_loose_accuracy": round(self.prompt_loose, 6),
            "instruction_level_loose_accuracy": round(self.instruction_loose, 6),
            "by_instruction": stats(self.by_instruction),
            "by_group": stats(self.by_group),
        }
        if include_results:
            data["results"] = [
                {
                    "key": r.key,
                    "instruction_id_list": list(r.instruction_ids),
                    "follow_instruction_list_strict": list(r.strict),
                    "follow_instruction_list_loose": list(r.loose),
                }
                for r in self.results
            ]
        return data


def summarize(results: Iterable[PromptResult]) -> IFEvalReport:
    """Aggregate prompt results into the four accuracies and the breakdowns."""
    rows = tuple(results)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        for instruction_id, strict, loose in zip(row.instruction_ids, row.strict, row.loose, strict=True):
            for table, name in ((counts, instruction_id), (groups, instruction_id.split(":")[0])):
                table[name][0] += 1
                table[name][1] += strict
                table[name][2] += loose
    instructions = sum(c[0] for c in counts.values())

    def share(part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    return IFEvalReport(
        prompts=len(rows),
        instructions=instructions,
        prompt_strict=share(sum(r.all_strict for r in rows), len(rows)),
        instruction_strict=share(sum(c[1] for c in counts.values()), instructions),
        prompt_loose=share(sum(r.all_loose for r in rows), len(rows)),
        instruction_loose=share(sum(c[2] for c in counts.values()), instructions),
        by_instruction={k: InstructionStats(*v) for k, v in sorted(counts.items())},
        by_group={k: InstructionStats(*v) for k, v in sorted(groups.items())},
        results=rows,
    )
