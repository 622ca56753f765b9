"""Builders shared by the instruction tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from poise.instructions import RequestContext, RuleSet, Signals, UserProfile, parse_rule_set
from poise.models.types import ChatMessage

NOON_UTC = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)  # a Wednesday


def ctx(*messages: str, now: datetime | None = NOON_UTC, **user: Any) -> RequestContext:
    return RequestContext(
        messages=tuple(ChatMessage("user", m) for m in messages), user=UserProfile(**user), now=now
    )


def rules(*items: dict[str, Any]) -> RuleSet:
    return parse_rule_set({"version": 1, "rules": list(items)})


def signals(**fields: Any) -> Signals:
    return Signals(**fields)
