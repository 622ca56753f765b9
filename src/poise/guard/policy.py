"""The guard policy: what to *do* about what the rails found, as one validated YAML file.

Rails report findings (a category, a score, spans); the policy maps them to actions. A rule
matches categories (glob patterns such as ``persona.*``), optionally rails and stages, and gives
per trust tier (``anonymous < customer < trusted < internal``, with a ``default``) the score at
which each action applies. For every finding the most severe action whose threshold is met wins,
and for the exchange the most severe action over all findings wins::

    allow < log < redact < rewrite < block < escalate

``escalate`` blocks *and* hands the conversation to a human (an :class:`EscalationEvent` sent to a
pluggable sink). A rail that errored is never a finding: ``fail_closed`` blocks with reason
``rail_error:<name>``, ``fail_open`` logs it. Tenants override rules by ``id`` (or add and disable
rules). Every decision carries its :class:`Reason` s: rule, rail, category, score, threshold, spans.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from poise.config import load_yaml, validate_model
from poise.errors import EscalationError, PolicyError, UnknownRailError
from poise.guard.rails import ExecutionMode, GuardContext, OnError, RailResult, Tier, rail_names
from poise.guard.types import Finding, Span

if TYPE_CHECKING:
    from poise.guard.pipeline import GuardVerdict

__all__ = [
    "ACTIONS",
    "Action",
    "Decision",
    "EscalationEvent",
    "EscalationSink",
    "Policy",
    "PolicyRule",
    "PolicySpec",
    "QueueSink",
    "RailSpec",
    "Reason",
    "WebhookSink",
    "check_rail_names",
    "default_policy_path",
    "load_policy",
    "policy_json_schema",
    "severity",
]

Action = Literal["allow", "log", "redact", "rewrite", "block", "escalate"]
ACTIONS: tuple[Action, ...] = ("allow", "log", "redact", "rewrite", "block", "escalate")
"""Every action, least severe first."""
Stage = Literal["input", "output"]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


_SEVERITY: dict[str, int] = {a: i for i, a in enumerate(ACTIONS)}
_MATCH_CACHE_SIZE = 4096


def severity(action: Action) -> int:
    """Rank of ``action`` in :data:`ACTIONS` (higher is more severe)."""
    return _SEVERITY[action]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierThresholds(_Strict):
    """Action → minimum score, per trust tier; a tier left out uses ``default``."""

    default: dict[Action, Score] = Field(default_factory=dict)
    anonymous: dict[Action, Score] | None = None
    customer: dict[Action, Score] | None = None
    trusted: dict[Action, Score] | None = None
    internal: dict[Action, Score] | None = None

    def for_tier(self, tier: Tier) -> dict[Action, float]:
        found: dict[Action, float] | None = getattr(self, tier)
        return found if found is not None else self.default


class PolicyRule(_Strict):
    """Findings of these categories (from these rails, at these stages) → actions by tier and score."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    categories: list[str] = Field(min_length=1, description="Glob patterns: 'injection', 'persona.*', '*'.")
    rails: list[str] = Field(default_factory=list, description="Only findings of these rails (empty: any).")
    stages: list[Stage] = Field(default_factory=lambda: list[Stage](("input", "output")))
    thresholds: TierThresholds
    description: str = ""

    def matches(self, stage: Stage, rail: str, category: str) -> bool:
        if stage not in self.stages or (self.rails and rail not in self.rails):
            return False
        return any(fnmatch.fnmatchcase(category.lower(), p.lower()) for p in self.categories)


class RailSpec(_Strict):
    """One rail in the pipeline, built from the registry by ``name`` with ``args``."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: float = Field(default=500.0, gt=0)
    on_error: OnError = "fail_closed"
    mode: ExecutionMode | None = Field(
        default=None, description="inline/thread; default: the rail's own choice."
    )
    stream: bool | None = Field(default=None, description="Run on every streamed chunk (span rails).")


class RailsConfig(_Strict):
    input: list[RailSpec] = Field(default_factory=list)
    output: list[RailSpec] = Field(default_factory=list)


class TenantOverride(_Strict):
    """A tenant's changes: rules replacing same-``id`` rules (or added), and rules switched off."""

    rules: list[PolicyRule] = Field(default_factory=list)
    disable_rules: list[str] = Field(default_factory=list)


class PolicySpec(_Strict):
    """A guard policy file."""

    version: Literal[1] = 1
    rails: RailsConfig = Field(default_factory=RailsConfig)
    rules: list[PolicyRule] = Field(default_factory=list)
    tenants: dict[str, TenantOverride] = Field(default_factory=dict)
    fallback_refusal: str = Field(
        default="I'm sorry, but I can't help with that.",
        description="Said on block when the persona has no refusal message.",
    )


@dataclass(frozen=True)
class Reason:
    """Why an action was taken: ``code`` is ``rule:<id>`` or ``rail_error:<rail>``."""

    code: str
    action: Action
    rail: str
    category: str = ""
    score: float = 0.0
    threshold: float | None = None
    spans: tuple[Span, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one stage: the winning action and every reason behind it."""

    action: Action
    reasons: tuple[Reason, ...] = ()

    @property
    def redact_spans(self) -> tuple[Span, ...]:
        return tuple(s for r in self.reasons if r.action == "redact" for s in r.spans)


def _findings(result: RailResult) -> Iterable[Finding]:
    if result.result is None:
        return ()
    if result.result.findings:
        return result.result.findings
    if result.result.flagged:  # a detector that flags without findings still gets judged
        return (Finding(result.rail, result.result.score, (), "flagged without findings"),)
    return ()


class Policy:
    """A loaded :class:`PolicySpec` that decides actions. Build with :func:`load_policy`."""

    def __init__(self, spec: PolicySpec, *, path: Path | None = None) -> None:
        self.spec = spec
        self.path = path
        # (tenant, stage, rail, category) -> the rules that judge such a finding, in order: the
        # glob matching is the same for every request, and a category is a label, not user text.
        self._matching: dict[tuple[str | None, Stage, str, str], tuple[PolicyRule, ...]] = {}
        unknown = [t for t in spec.tenants for d in spec.tenants[t].disable_rules if d not in self._ids(t)]
        if unknown:
            raise PolicyError(f"disable_rules names unknown rule ids {unknown}", path=path, field="tenants")

    def _ids(self, tenant: str) -> set[str]:
        return {r.id for r in self.spec.rules} | {r.id for r in self.spec.tenants[tenant].rules}

    @cached_property
    def _tenant_rules(self) -> dict[str, tuple[PolicyRule, ...]]:
        out: dict[str, tuple[PolicyRule, ...]] = {}
        for name, override in self.spec.tenants.items():
            replaced = {r.id: r for r in override.rules}
            rules = [replaced.pop(r.id, r) for r in self.spec.rules]
            rules.extend(replaced.values())
            out[name] = tuple(r for r in rules if r.id not in override.disable_rules)
        return out

    def rules_for(self, tenant: str | None) -> tuple[PolicyRule, ...]:
        """The effective rules for ``tenant`` (the base rules for an unknown or no tenant)."""
        if tenant is not None and tenant in self._tenant_rules:
            return self._tenant_rules[tenant]
        return tuple(self.spec.rules)

    def _rules_matching(
        self, tenant: str | None, stage: Stage, rail: str, category: str
    ) -> tuple[PolicyRule, ...]:
        key = (tenant if tenant in self._tenant_rules else None, stage, rail, category)
        found = self._matching.get(key)
        if found is None:
            found = tuple(r for r in self.rules_for(tenant) if r.matches(stage, rail, category))
            if len(self._matching) >= _MATCH_CACHE_SIZE:
                self._matching.clear()
            self._matching[key] = found
        return found

    def decide(
        self,
        results: Sequence[RailResult],
        *,
        stage: Stage,
        tier: Tier = "anonymous",
        tenant: str | None = None,
    ) -> Decision:
        """Map rail results to one action; the most severe wins. Errors follow ``on_error``."""
        reasons: list[Reason] = []
        for rr in results:
            if rr.status == "error":
                err = rr.error
                detail = f"{err.type}: {err.message}" if err else "rail error"
                action: Action = "block" if rr.on_error == "fail_closed" else "log"
                reasons.append(
                    Reason(f"rail_error:{rr.rail}", action, rr.rail, detail=f"{rr.on_error}; {detail}")
                )
                continue
            for finding in _findings(rr):
                best: Reason | None = None
                for rule in self._rules_matching(tenant, stage, rr.rail, finding.category):
                    for act, threshold in rule.thresholds.for_tier(tier).items():
                        if finding.score >= threshold and (
                            best is None or severity(act) > severity(best.action)
                        ):
                            best = Reason(
                                f"rule:{rule.id}",
                                act,
                                rr.rail,
                                finding.category,
                                finding.score,
                                threshold,
                                finding.spans,
                                finding.reason,
                            )
                if best is not None and best.action != "allow":
                    reasons.append(best)
        if not reasons:
            return Decision("allow")
        top = max((r.action for r in reasons), key=severity)
        reasons.sort(key=lambda r: -severity(r.action))
        return Decision(top, tuple(reasons))


def default_policy_path() -> Path:
    """The policy shipped with poise (``poise/guard/policies/default.yaml``)."""
    return Path(str(resources.files("poise.guard").joinpath("policies/default.yaml")))


def load_policy(path: Path | str | None = None) -> Policy:
    """Load and validate a policy file (default: the shipped one).

    Raises:
        PolicyError: malformed YAML, unknown keys, bad values (naming file and field path).
        UnknownRailError: a rail name the registry does not know.
    """
    p = Path(path) if path is not None else default_policy_path()
    spec = validate_model(PolicySpec, load_yaml(p, PolicyError), p, PolicyError)
    check_rail_names(spec.rails, path=p)
    return Policy(spec, path=p)


def policy_json_schema() -> dict[str, Any]:
    """JSON Schema of the policy file, for editors and CI."""
    return PolicySpec.model_json_schema()


def check_rail_names(rails: RailsConfig, *, path: Path | str | None = None) -> None:
    """Fail at load time on a rail name the registry does not know."""
    known = rail_names()
    for stage, specs in (("input", rails.input), ("output", rails.output)):
        for i, spec in enumerate(specs):
            if spec.name not in known:
                raise UnknownRailError(
                    f"unknown rail {spec.name!r}",
                    rail=spec.name,
                    path=path,
                    field=f"rails.{stage}[{i}].name",
                    expected=f"one of {', '.join(known)}",
                )


# --- escalation: hand the conversation to a human -------------------------------------------------


@dataclass(frozen=True)
class EscalationEvent:
    """Sent to a sink when the policy escalates. Carries reasons and scores, never the raw text."""

    id: str
    created_at: str
    stage: Stage
    tier: Tier
    tenant: str | None
    persona: str | None
    reasons: tuple[Reason, ...]
    scores: dict[str, float]

    @classmethod
    def from_verdict(cls, verdict: GuardVerdict, ctx: GuardContext) -> EscalationEvent:
        return cls(
            id=uuid.uuid4().hex,
            created_at=datetime.now(UTC).isoformat(),
            stage=verdict.stage,
            tier=ctx.tier,
            tenant=ctx.tenant,
            persona=ctx.persona.id if ctx.persona is not None else None,
            reasons=verdict.reasons,
            scores=verdict.scores,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what :class:`WebhookSink` posts)."""
        return dataclasses.asdict(self)


class EscalationSink(Protocol):
    """Where escalation events go. ``send`` raises :class:`~poise.errors.EscalationError` on failure."""

    name: str

    async def send(self, event: EscalationEvent) -> None: ...


class QueueSink:
    """In-memory sink: events land on an ``asyncio.Queue`` (tests, or a worker that drains it)."""

    name = "queue"

    def __init__(self, maxsize: int = 1000) -> None:
        self.queue: asyncio.Queue[EscalationEvent] = asyncio.Queue(maxsize)

    async def send(self, event: EscalationEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            raise EscalationError(
                f"escalation queue is full ({self.queue.maxsize} events)", sink=self.name
            ) from None


class WebhookSink:
    """POSTs each event as JSON to ``url``; a non-2xx answer or a transport error is an EscalationError.

    Args:
        url: the webhook endpoint.
        headers: extra headers (an auth token, ...).
        timeout: seconds for the whole request.
        client: an ``httpx.AsyncClient`` to reuse (a test can pass one with a ``MockTransport``).
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.client = client

    async def send(self, event: EscalationEvent) -> None:
        try:
            if self.client is not None:
                resp = await self.client.post(
                    self.url, json=event.to_json(), headers=self.headers, timeout=self.timeout
                )
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    resp = await client.post(self.url, json=event.to_json(), headers=self.headers)
        except httpx.HTTPError as exc:
            raise EscalationError(
                f"webhook {self.url} failed: {type(exc).__name__}: {exc}", sink=self.name
            ) from exc
        if not resp.is_success:
            raise EscalationError(f"webhook {self.url} answered HTTP {resp.status_code}", sink=self.name)
