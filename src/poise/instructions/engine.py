"""The callable the conversation engine plugs in: request context in, instruction result out.

:class:`RuleEngine` is analysis (:func:`~poise.instructions.analyze`) followed by rule evaluation
(:func:`~poise.instructions.evaluate_rules`) for one loaded rule set, so
``ConversationEngine(instructions=RuleEngine.default())`` adapts every turn's system prompt.
"""

from __future__ import annotations

from pathlib import Path

from poise.instructions.analyze import analyze
from poise.instructions.evaluate import evaluate_rules
from poise.instructions.rules import RuleSet, load_default_rule_set, load_rule_set
from poise.instructions.types import InstructionResult, RequestContext


class RuleEngine:
    """Analyse a request and evaluate a rule set against it.

    Args:
        rule_set: the rules to evaluate on every call.
    """

    def __init__(self, rule_set: RuleSet) -> None:
        self.rule_set = rule_set

    @classmethod
    def default(cls) -> RuleEngine:
        """An engine over the rule set shipped with poise."""
        return cls(load_default_rule_set())

    @classmethod
    def from_file(cls, path: Path | str) -> RuleEngine:
        """An engine over the rule file at ``path`` (raises ConfigError when it is invalid)."""
        return cls(load_rule_set(path))

    def __call__(self, context: RequestContext) -> InstructionResult:
        """Analyse ``context`` and return the fired rules and fragments."""
        return evaluate_rules(self.rule_set, context, analyze(context))
