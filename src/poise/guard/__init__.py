"""Guardrails: input rails before the model, output rails after it, a tiered policy that decides.

A request goes ``check_input`` → model → ``check_output``; each check runs its rails (one
:class:`Detector` each, or any :class:`Rail`), the :class:`Policy` maps what they found to an
action (allow < log < redact < rewrite < block < escalate), and the :class:`GuardVerdict` carries
the action and everything behind it::

    from poise.guard import GuardContext, load_pipeline

    pipeline = load_pipeline()                         # the shipped policy
    verdict = await pipeline.check_input("Ignore all previous instructions ...", GuardContext())
    verdict.action, verdict.reasons, verdict.latency_ms

Names are imported on first use, so ``import poise.guard`` stays cheap and a detector's
dependencies (NumPy, the classifier artifact, the profanity model) load only when it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from poise.guard.audit import AuditingPipeline, policy_version, record_verdict, verdict_records
    from poise.guard.eval_cases import load_cases
    from poise.guard.evaluation import EvalReport, evaluate_cases, format_eval_report, match_spans
    from poise.guard.injection import (
        IndirectInjectionDetector,
        InjectionDetector,
        ManyShotDetector,
        SystemPromptExtractionDetector,
    )
    from poise.guard.leak import LeakDetector, make_canary
    from poise.guard.metrics import Confusion, LatencySummary, confusion, summarize_latency
    from poise.guard.normalize import NormalizedText
    from poise.guard.persona_rules import PersonaRulesRail, check_reply
    from poise.guard.pii import PIIDetector, PIIEntity, Redactor, find_entities
    from poise.guard.pipeline import GuardPipeline, GuardVerdict, Rewriter, load_pipeline, mask_spans
    from poise.guard.policy import (
        ACTIONS,
        Action,
        Decision,
        EscalationEvent,
        EscalationSink,
        Policy,
        PolicyRule,
        PolicySpec,
        QueueSink,
        RailSpec,
        Reason,
        Stage,
        WebhookSink,
        default_policy_path,
        load_policy,
        policy_json_schema,
    )
    from poise.guard.rails import (
        TIERS,
        DetectorRail,
        ExecutionMode,
        GuardContext,
        OnError,
        Rail,
        RailError,
        RailResult,
        Tier,
        build_rail,
        rail_names,
        register_rail,
        run_rail,
    )
    from poise.guard.ratelimit import (
        InMemoryRateLimiter,
        RateLimitDecision,
        RateLimiter,
        RateLimits,
        TokenReservation,
    )
    from poise.guard.refusal import RefusalDetector
    from poise.guard.report import format_verdict, verdict_to_dict
    from poise.guard.streaming import StreamEvent, StreamGuard, guard_stream
    from poise.guard.topic import TopicDetector, TopicRail
    from poise.guard.toxicity import ToxicityDetector
    from poise.guard.types import DetectionContext, Detector, DetectorResult, Finding, Span

_EXPORTS: dict[str, str] = {
    # the pipeline and its policy
    "GuardPipeline": "pipeline",
    "GuardVerdict": "pipeline",
    "Rewriter": "pipeline",
    "load_pipeline": "pipeline",
    "mask_spans": "pipeline",
    "ACTIONS": "policy",
    "Action": "policy",
    "Decision": "policy",
    "EscalationEvent": "policy",
    "EscalationSink": "policy",
    "Policy": "policy",
    "PolicyRule": "policy",
    "PolicySpec": "policy",
    "QueueSink": "policy",
    "RailSpec": "policy",
    "Reason": "policy",
    "Stage": "policy",
    "WebhookSink": "policy",
    "default_policy_path": "policy",
    "load_policy": "policy",
    "policy_json_schema": "policy",
    # rails and the registry
    "TIERS": "rails",
    "DetectorRail": "rails",
    "ExecutionMode": "rails",
    "GuardContext": "rails",
    "OnError": "rails",
    "Rail": "rails",
    "RailError": "rails",
    "RailResult": "rails",
    "Tier": "rails",
    "build_rail": "rails",
    "rail_names": "rails",
    "register_rail": "rails",
    "run_rail": "rails",
    # detector values and protocol
    "DetectionContext": "types",
    "Detector": "types",
    "DetectorResult": "types",
    "Finding": "types",
    "Span": "types",
    # detectors and rails
    "IndirectInjectionDetector": "injection",
    "InjectionDetector": "injection",
    "ManyShotDetector": "injection",
    "SystemPromptExtractionDetector": "injection",
    "LeakDetector": "leak",
    "make_canary": "leak",
    "PIIDetector": "pii",
    "PIIEntity": "pii",
    "Redactor": "pii",
    "find_entities": "pii",
    "PersonaRulesRail": "persona_rules",
    "check_reply": "persona_rules",
    "RefusalDetector": "refusal",
    "TopicDetector": "topic",
    "TopicRail": "topic",
    "ToxicityDetector": "toxicity",
    "NormalizedText": "normalize",
    # streaming, rate limits
    "StreamEvent": "streaming",
    "StreamGuard": "streaming",
    "guard_stream": "streaming",
    "InMemoryRateLimiter": "ratelimit",
    "RateLimitDecision": "ratelimit",
    "RateLimiter": "ratelimit",
    "RateLimits": "ratelimit",
    "TokenReservation": "ratelimit",
    # audit, reports, evaluation
    "AuditingPipeline": "audit",
    "policy_version": "audit",
    "record_verdict": "audit",
    "verdict_records": "audit",
    "format_verdict": "report",
    "verdict_to_dict": "report",
    "EvalReport": "evaluation",
    "evaluate_cases": "evaluation",
    "format_eval_report": "evaluation",
    "match_spans": "evaluation",
    "load_cases": "eval_cases",
    "Confusion": "metrics",
    "LatencySummary": "metrics",
    "confusion": "metrics",
    "summarize_latency": "metrics",
}

__all__ = [
    "ACTIONS",
    "TIERS",
    "Action",
    "AuditingPipeline",
    "Confusion",
    "Decision",
    "DetectionContext",
    "Detector",
    "DetectorRail",
    "DetectorResult",
    "EscalationEvent",
    "EscalationSink",
    "EvalReport",
    "ExecutionMode",
    "Finding",
    "GuardContext",
    "GuardPipeline",
    "GuardVerdict",
    "InMemoryRateLimiter",
    "IndirectInjectionDetector",
    "InjectionDetector",
    "LatencySummary",
    "LeakDetector",
    "ManyShotDetector",
    "NormalizedText",
    "OnError",
    "PIIDetector",
    "PIIEntity",
    "PersonaRulesRail",
    "Policy",
    "PolicyRule",
    "PolicySpec",
    "QueueSink",
    "Rail",
    "RailError",
    "RailResult",
    "RailSpec",
    "RateLimitDecision",
    "RateLimiter",
    "RateLimits",
    "Reason",
    "Redactor",
    "RefusalDetector",
    "Rewriter",
    "Span",
    "Stage",
    "StreamEvent",
    "StreamGuard",
    "SystemPromptExtractionDetector",
    "Tier",
    "TokenReservation",
    "TopicDetector",
    "TopicRail",
    "ToxicityDetector",
    "WebhookSink",
    "build_rail",
    "check_reply",
    "confusion",
    "default_policy_path",
    "evaluate_cases",
    "find_entities",
    "format_eval_report",
    "format_verdict",
    "guard_stream",
    "load_cases",
    "load_pipeline",
    "load_policy",
    "make_canary",
    "mask_spans",
    "match_spans",
    "policy_json_schema",
    "policy_version",
    "rail_names",
    "record_verdict",
    "register_rail",
    "run_rail",
    "summarize_latency",
    "verdict_records",
    "verdict_to_dict",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'poise.guard' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"poise.guard.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
