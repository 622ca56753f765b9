"""Constitutional alignment: principles, an inference-time critique → revision loop, training data.

* :mod:`~poise.align.constitution`: the constitution file (principles, comparison principles,
  persona overrides, loop settings) and :func:`load_constitution`.
* :mod:`~poise.align.loop`: :class:`ConstitutionalLoop`, run live on a draft under a budget.
* :mod:`~poise.align.rewriter`: :class:`ConstitutionalRewriter`, the guard policy's ``rewrite``.
* :mod:`~poise.align.generate`: SL-CAI and preference (DPO) JSONL files for TRL.
"""

from poise.align.constitution import (
    Budget,
    ComparisonPrinciple,
    Constitution,
    ConstitutionSpec,
    LoopSettings,
    PersonaOverride,
    Principle,
    Scope,
    constitution_json_schema,
    default_constitution_path,
    load_constitution,
)
from poise.align.critique import Critique, Preference, parse_critique, parse_preference
from poise.align.loop import ConstitutionalLoop, LoopResult, LoopStep, TriggerDecision
from poise.align.prompts import Exchange
from poise.align.rewriter import ConstitutionalRewriter, RewriteNotPossibleError

__all__ = [
    "Budget",
    "ComparisonPrinciple",
    "Constitution",
    "ConstitutionSpec",
    "ConstitutionalLoop",
    "ConstitutionalRewriter",
    "Critique",
    "Exchange",
    "LoopResult",
    "LoopSettings",
    "LoopStep",
    "PersonaOverride",
    "Preference",
    "Principle",
    "RewriteNotPossibleError",
    "Scope",
    "TriggerDecision",
    "constitution_json_schema",
    "default_constitution_path",
    "load_constitution",
    "parse_critique",
    "parse_preference",
]
