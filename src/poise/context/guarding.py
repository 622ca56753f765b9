"""The guard inside a conversation turn: what the engine needs from ``poise.guard``.

The engine runs the pipeline's input rails on the user's message before anything else (a block
means the model is never called), compiles the persona prompt with a per-session canary, and runs
the output rails on the reply — on the whole reply for :meth:`~ConversationEngine.send`, on a
hold-back window of the stream for :meth:`~ConversationEngine.stream`. What the guard decided
rides on the turn's trace (:class:`GuardTrace`); nothing is raised for a block.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from poise.guard.pii.entity import PIIEntity
from poise.guard.pii.redact import Redactor
from poise.guard.pipeline import GuardPipeline, GuardVerdict, mask_spans
from poise.guard.rails import GuardContext, Tier
from poise.guard.types import DetectionContext, Span
from poise.persona.spec import Persona


@dataclass(frozen=True)
class GuardSettings:
    """How a :class:`~poise.context.engine.ConversationEngine` guards its turns.

    Attributes:
        pipeline: the rails and policy.
        tier: how much the caller is trusted (selects the policy's thresholds).
        tenant: whose policy overrides apply.
        canary_key: secret for per-session canaries; random per engine unless given (a canary only
            has to be stable within a session while this process serves it).
        restore_redacted: redacted input becomes numbered placeholders (``[EMAIL_1]``) that are put
            back into the reply before the output rails run — so the output policy decides whether
            the value may go out. ``False``: plain ``[EMAIL]`` masks, nothing kept.
    """

    pipeline: GuardPipeline
    tier: Tier = "anonymous"
    tenant: str | None = None
    restore_redacted: bool = True
    canary_key: bytes = field(default_factory=lambda: secrets.token_bytes(16), repr=False)

    def canary(self, session_id: str) -> str:
        """The session's canary: an opaque token only the system prompt contains."""
        digest = hmac.new(self.canary_key, session_id.encode(), hashlib.sha256).hexdigest()
        return f"pz-{digest[:20]}"

    def context(
        self, persona: Persona, *, user_text: str, system_prompt: str | None = None, canary: str | None = None
    ) -> GuardContext:
        detection = DetectionContext(
            system_prompt=system_prompt, secrets=tuple(persona.secrets), canary=canary
        )
        return GuardContext(
            detection=detection, tier=self.tier, tenant=self.tenant, persona=persona, user_text=user_text
        )


@dataclass(frozen=True)
class GuardTrace:
    """What the guard decided on this turn's input and output (``None``: that stage did not run)."""

    input: GuardVerdict | None = None
    output: GuardVerdict | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"input": verdict_to_dict(self.input), "output": verdict_to_dict(self.output)}


def verdict_to_dict(verdict: GuardVerdict | None) -> dict[str, Any] | None:
    """A JSON-ready summary: action, latency, each reason (rule, rail, category, score), rail errors.

    Spans are given as offsets only, never the text they cover.
    """
    if verdict is None:
        return None
    return {
        "action": verdict.action,
        "latency_ms": round(verdict.latency_ms, 3),
        "reasons": [
            {
                "code": r.code,
                "action": r.action,
                "rail": r.rail,
                "category": r.category,
                "score": round(r.score, 4),
                "spans": [[s.start, s.end, s.label] for s in r.spans],
            }
            for r in verdict.reasons
        ],
        "errors": [{"rail": r.rail, "error": r.error.type if r.error else None} for r in verdict.errors],
    }


_OPEN_PLACEHOLDER_MAX = 32  # longer than any [TYPE_n] placeholder


class Placeholders:
    """One session's reversible redaction: placeholder ↔ original, kept in memory only.

    The same (label, value) always gets the same placeholder, so the model can refer to it; the
    numbering and matching are :class:`~poise.guard.pii.redact.Redactor`'s, applied to the spans
    the policy chose (which may come from any rail, not only the PII detector).
    """

    def __init__(self) -> None:
        self._redactor = Redactor()

    def _placeholder(self, span: Span, covered: str) -> str:
        label = span.label.upper().replace(".", "_")
        return self._redactor.placeholder(PIIEntity(label, span.start, span.end, covered, 1.0))

    def redact(self, text: str, verdict: GuardVerdict) -> str:
        """Replace the spans the policy wants redacted with this session's placeholders."""
        spans = [s for r in verdict.reasons if r.action == "redact" for s in r.spans]
        return mask_spans(text, spans, self._placeholder)

    def restore(self, text: str) -> str:
        return self._redactor.restore(text)

    def stream(self) -> PlaceholderStream:
        return PlaceholderStream(self)


class PlaceholderStream:
    """Restores placeholders in a token stream, holding back an unfinished ``[...`` until it closes."""

    def __init__(self, placeholders: Placeholders) -> None:
        self.placeholders = placeholders
        self._held = ""

    def feed(self, chunk: str) -> str:
        text = self._held + chunk
        cut = text.rfind("[")
        if cut != -1 and "]" not in text[cut:] and len(text) - cut <= _OPEN_PLACEHOLDER_MAX:
            text, self._held = text[:cut], text[cut:]
        else:
            self._held = ""
        return self.placeholders.restore(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self.placeholders.restore(text)
