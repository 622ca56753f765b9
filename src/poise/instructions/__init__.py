"""Dynamic system instructions: adapt the system prompt to the task, the user and the moment.

Flow: :func:`analyze` turns a :class:`RequestContext` into :class:`Signals` (task type,
programming language, natural language, sentiment, complaints); :func:`evaluate_rules` tests a
:class:`RuleSet` (declarative YAML, see :mod:`poise.instructions.rules`) against both and
returns an :class:`InstructionResult`: the fragments for the prompt compiler and, for the trace,
which rules fired and why. :class:`RuleEngine` bundles the two steps for the conversation engine.
"""

from poise.instructions.analyze import analyze, warm_up
from poise.instructions.conditions import Condition, CountRange, Range, TimeCondition, UserCondition
from poise.instructions.engine import RuleEngine
from poise.instructions.evaluate import evaluate_rules, render_text, rule_reasons
from poise.instructions.rules import (
    PLACEHOLDERS,
    Replace,
    Rule,
    RuleSet,
    load_default_rule_set,
    load_rule_set,
    parse_rule_set,
    rule_set_json_schema,
)
from poise.instructions.types import (
    FiredRule,
    InstructionFragment,
    InstructionResult,
    RequestContext,
    Signals,
    UserProfile,
)

__all__ = [
    "PLACEHOLDERS",
    "Condition",
    "CountRange",
    "FiredRule",
    "InstructionFragment",
    "InstructionResult",
    "Range",
    "Replace",
    "RequestContext",
    "Rule",
    "RuleEngine",
    "RuleSet",
    "Signals",
    "TimeCondition",
    "UserCondition",
    "UserProfile",
    "analyze",
    "evaluate_rules",
    "load_default_rule_set",
    "load_rule_set",
    "parse_rule_set",
    "render_text",
    "rule_reasons",
    "rule_set_json_schema",
    "warm_up",
]
