"""Pin the public API of ``poise.instructions`` so removals are deliberate."""

from __future__ import annotations

import poise.instructions as api

EXPECTED = {
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
}


def test_exported_members():
    assert set(api.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(api, name) is not None


def test_rule_engine_is_the_engine_callable():
    from .helpers import ctx

    result = api.RuleEngine.default()(ctx("```python\nprint(1)\n```"))
    assert isinstance(result, api.InstructionResult)
    assert result.signals.code_language == "python"
