"""A :class:`~poise.guard.pipeline.GuardVerdict` as JSON-ready data and as text for a terminal.

The JSON form (``poise guard check --json``) carries the decision and what is behind it:
action, categories, scores, spans (offsets and labels, never the matched text), per-rail status
and latency, the reasons and the total latency. The text to pass on (redacted) and the message to
say instead (block) are included because the caller asked about its own text.
"""

from __future__ import annotations

from typing import Any

from poise.guard.pipeline import GuardVerdict
from poise.guard.policy import Reason
from poise.guard.rails import RailResult

__all__ = ["format_verdict", "verdict_to_dict"]


def _rail_dict(r: RailResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rail": r.rail,
        "status": r.status,
        "flagged": r.flagged,
        "score": round(r.score, 4),
        "categories": list(r.categories),
        "latency_ms": round(r.latency_ms, 3),
    }
    if r.error is not None:
        out["error"] = {"type": r.error.type, "message": r.error.message, "on_error": r.on_error}
    return out


def _reason_dict(r: Reason) -> dict[str, Any]:
    return {
        "code": r.code,
        "action": r.action,
        "rail": r.rail,
        "category": r.category,
        "score": round(r.score, 4),
        "threshold": r.threshold,
        "detail": r.detail,
    }


def verdict_to_dict(verdict: GuardVerdict) -> dict[str, Any]:
    """The verdict as JSON-ready data (see the module docstring)."""
    spans = [
        {"start": s.start, "end": s.end, "label": s.label, "rail": r.rail, "category": f.category}
        for r in verdict.results
        if r.result is not None
        for f in r.result.findings
        for s in f.spans
    ]
    return {
        "stage": verdict.stage,
        "verdict": "blocked" if verdict.blocked else "passed",
        "action": verdict.action,
        "categories": list(dict.fromkeys(c for r in verdict.results for c in r.categories)),
        "scores": {k: round(v, 4) for k, v in verdict.scores.items()},
        "spans": sorted(spans, key=lambda s: (s["start"], s["end"])),
        "rails": [_rail_dict(r) for r in verdict.results],
        "reasons": [_reason_dict(r) for r in verdict.reasons],
        "errors": [r.rail for r in verdict.errors],
        "text": verdict.text,
        "message": verdict.message,
        "latency_ms": round(verdict.latency_ms, 3),
    }


def format_verdict(verdict: GuardVerdict) -> str:
    """A few readable lines: the action, why, each rail, and the text or message to use."""
    head = f"{verdict.stage}: {verdict.action.upper()} ({verdict.latency_ms:.1f} ms)"
    lines = [head]
    for reason in verdict.reasons:
        why = f"  {reason.action} because {reason.code}"
        if reason.category:
            why += f", {reason.category} {reason.score:.2f}"
            if reason.threshold is not None:
                why += f" >= {reason.threshold:g}"
        if reason.rail and reason.rail != "policy":
            why += f" (rail {reason.rail})"
        if reason.detail:
            why += f" - {reason.detail}"
        lines.append(why)
    width = max((len(r.rail) for r in verdict.results), default=4)
    lines.append("  rails:")
    for r in verdict.results:
        if r.status == "error":
            state = f"ERROR {r.error.type if r.error else ''}: {r.error.message if r.error else ''}"
        else:
            state = f"{'flagged' if r.flagged else 'ok':<7} {r.score:.2f}"
            if r.categories:
                state += f"  {', '.join(r.categories)}"
        lines.append(f"    {r.rail:<{width}}  {r.latency_ms:7.2f} ms  {state}")
    if verdict.text is not None:
        lines.append(f"  text to pass on: {verdict.text}")
    if verdict.message is not None:
        lines.append(f"  say instead: {verdict.message}")
    return "\n".join(lines)
