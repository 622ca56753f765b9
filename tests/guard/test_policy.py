"""Policy: tiers x categories x thresholds, most severe wins, tenant overrides, load errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from poise.errors import PolicyError, UnknownRailError
from poise.guard.policy import (
    Policy,
    PolicyRule,
    PolicySpec,
    TenantOverride,
    TierThresholds,
    load_policy,
    policy_json_schema,
)
from poise.guard.rails import RailResult
from poise.guard.types import DetectorResult, Finding, Span


def _result(rail: str, category: str, score: float) -> RailResult:
    finding = Finding(category, score, (Span(0, 3, category),))
    return RailResult(rail, "ok", result=DetectorResult(rail, True, score, (finding,)))


SPEC = PolicySpec(
    rules=[
        PolicyRule(
            id="attacks",
            categories=["injection", "jail*"],
            stages=["input"],
            thresholds=TierThresholds(
                default={"log": 0.3, "block": 0.6},
                trusted={"log": 0.3, "block": 0.9},
                internal={"log": 0.1},
            ),
        ),
        PolicyRule(id="pii", categories=["EMAIL"], thresholds=TierThresholds(default={"redact": 0.5})),
        PolicyRule(id="hr", categories=["self_harm"], thresholds=TierThresholds(default={"escalate": 0.5})),
    ],
    tenants={
        "acme": TenantOverride(
            rules=[
                PolicyRule(
                    id="attacks", categories=["injection"], thresholds=TierThresholds(default={"block": 0.2})
                )
            ],
            disable_rules=["pii"],
        )
    },
)


def test_one_policy_keeps_tenants_and_stages_apart_when_asked_again():
    # The rules that judge a (tenant, stage, rail, category) are looked up once: a second round of
    # the same questions, in another order, must give the same answers.
    policy = Policy(SPEC)
    asks = [
        ("acme", "input", "injection", 0.25),
        (None, "input", "injection", 0.25),
        ("acme", "input", "EMAIL", 0.9),
        (None, "input", "EMAIL", 0.9),
        ("other", "input", "EMAIL", 0.9),
        (None, "output", "injection", 0.9),
    ]
    expected = ["block", "allow", "allow", "redact", "redact", "allow"]
    for order in (asks, asks[::-1]):
        answers = {
            ask: policy.decide([_result("r", ask[2], ask[3])], stage=ask[1], tenant=ask[0]).action
            for ask in order
        }
        assert [answers[ask] for ask in asks] == expected


@pytest.mark.parametrize(
    ("tier", "tenant", "category", "score", "action"),
    [
        pytest.param("anonymous", None, "injection", 0.7, "block", id="anonymous-blocks-at-0.6"),
        pytest.param("anonymous", None, "injection", 0.4, "log", id="anonymous-logs-below"),
        pytest.param("customer", None, "jailbreak", 0.7, "block", id="glob-category-default-tier"),
        pytest.param("trusted", None, "injection", 0.7, "log", id="trusted-higher-threshold"),
        pytest.param("trusted", None, "injection", 0.95, "block", id="trusted-blocks-when-sure"),
        pytest.param("internal", None, "injection", 0.99, "log", id="internal-never-blocks"),
        pytest.param("anonymous", None, "injection", 0.1, "allow", id="below-every-threshold"),
        pytest.param("anonymous", None, "unknown_category", 1.0, "allow", id="no-rule-matches"),
        pytest.param("anonymous", "acme", "injection", 0.25, "block", id="tenant-override-replaces-rule"),
        pytest.param("anonymous", "acme", "EMAIL", 0.9, "allow", id="tenant-disables-rule"),
        pytest.param("anonymous", "other", "EMAIL", 0.9, "redact", id="unknown-tenant-uses-base"),
    ],
)
def test_tiers_thresholds_and_tenant_overrides(tier, tenant, category, score, action):
    decision = Policy(SPEC).decide([_result("r", category, score)], stage="input", tier=tier, tenant=tenant)
    assert decision.action == action
    if action != "allow":
        assert decision.reasons[0].score == score and decision.reasons[0].spans


@pytest.mark.parametrize(
    ("findings", "action"),
    [
        pytest.param([("EMAIL", 0.9), ("injection", 0.7)], "block", id="block-beats-redact"),
        pytest.param([("EMAIL", 0.9), ("injection", 0.4)], "redact", id="redact-beats-log"),
        pytest.param([("injection", 0.9), ("self_harm", 0.9)], "escalate", id="escalate-beats-block"),
    ],
)
def test_most_severe_action_wins(findings, action):
    results = [_result(f"r{i}", c, s) for i, (c, s) in enumerate(findings)]
    decision = Policy(SPEC).decide(results, stage="input")
    assert decision.action == action
    assert len(decision.reasons) == len(findings)


def test_stage_filter():
    assert Policy(SPEC).decide([_result("r", "injection", 0.9)], stage="output").action == "allow"


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(textwrap.dedent(body), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("body", "error", "field", "text"),
    [
        pytest.param(
            "rails:\n  input:\n    - name: injektion\n",
            UnknownRailError,
            "rails.input[0].name",
            "unknown rail 'injektion'",
            id="unknown-rail",
        ),
        pytest.param(
            "rules:\n  - id: x\n    categories: [a]\n    thresholds: {default: {block: 1.5}}\n",
            PolicyError,
            "rules[0].thresholds.default.block",
            "less than or equal",
            id="score-out-of-range",
        ),
        pytest.param(
            "rules:\n  - id: x\n    categories: [a]\n    thresholds: {default: {nuke: 0.5}}\n",
            PolicyError,
            "rules[0].thresholds.default.nuke",
            "",
            id="unknown-action",
        ),
        pytest.param(
            "rules:\n  - id: x\n    categories: [a]\n    thresholds: {guest: {block: 0.5}}\n",
            PolicyError,
            "rules[0].thresholds.guest",
            "unknown key",
            id="unknown-tier",
        ),
        pytest.param("rail:\n  input: []\n", PolicyError, "rail", "unknown key", id="misspelled-top-level"),
        pytest.param(
            "rails:\n  output:\n    - name: pii\n      on_error: ignore\n",
            PolicyError,
            "rails.output[0].on_error",
            "fail_closed",
            id="bad-on-error",
        ),
        pytest.param("rules: [\n", PolicyError, None, "malformed YAML", id="malformed-yaml"),
    ],
)
def test_bad_policy_yaml_names_file_and_field(tmp_path, body, error, field, text):
    path = _write(tmp_path, body)
    with pytest.raises(error) as info:
        load_policy(path)
    assert info.value.path == path
    assert str(path) in str(info.value)
    if field is not None:
        assert info.value.field == field or field in str(info.value)
    assert text in str(info.value)


def test_bad_rail_args_fail_at_load(tmp_path):
    from poise.guard.pipeline import load_pipeline

    path = _write(tmp_path, "rails:\n  input:\n    - name: pii\n      args: {types: [NOPE]}\n")
    with pytest.raises(PolicyError) as info:
        load_pipeline(path)
    assert info.value.field == "rails.input[0].args" and "NOPE" in str(info.value)


def test_default_policy_loads_and_schema_is_exported():
    policy = load_policy()
    assert {r.id for r in policy.spec.rules} >= {"prompt-attacks", "leaks", "persona-banned-terms"}
    schema = policy_json_schema()
    assert schema["additionalProperties"] is False and "rules" in schema["properties"]
