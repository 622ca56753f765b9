"""IFEval: 25 verifiable instructions, checked in strict and loose modes.

A re-implementation of the checkers of "Instruction-Following Evaluation for Large Language
Models" (Zhou et al., 2023, arXiv 2311.07911), written from the paper's definitions and the
reference code's behaviour, without NLTK data or network access. On the published GPT-4
responses it reproduces the paper's accuracies within a fraction of a point (see
``docs/design/eval-ifeval.md``)::

    from poise.eval.ifeval import evaluate_files
    run = evaluate_files(Path("input_data.jsonl"), Path("responses.jsonl"))
    run.report.prompt_strict, run.report.instruction_loose
"""

from poise.eval.ifeval.checks import InstructionArgs, InstructionChecker
from poise.eval.ifeval.evaluate import IFEvalRun, Pairing, evaluate, evaluate_files, pair_responses
from poise.eval.ifeval.registry import CHECKERS, build_checker
from poise.eval.ifeval.scoring import IFEvalReport, InstructionStats, PromptResult, loose_variants

__all__ = [
    "CHECKERS",
    "IFEvalReport",
    "IFEvalRun",
    "InstructionArgs",
    "InstructionChecker",
    "InstructionStats",
    "Pairing",
    "PromptResult",
    "build_checker",
    "evaluate",
    "evaluate_files",
    "loose_variants",
    "pair_responses",
]
