"""Rule conditions: what a rule may test about a request, and the plain-words reason it held.

A :class:`Condition` is a mapping of keys that must *all* hold. A list value means "any of":
``task: [code, support]``. Each key that holds yields one reason, e.g.
``code_language = python (in a ```python block)`` or ``sentiment -0.62 <= -0.40``, which the
trace shows so nobody has to guess why a prompt changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from poise.instructions.sentiment import COMPLAINT_WINDOW
from poise.instructions.types import Expertise, RequestContext, Signals

Task = Literal["general", "code", "support", "creative", "medical", "legal", "financial"]
CodeLanguage = Literal[
    "bash",
    "c",
    "cpp",
    "csharp",
    "css",
    "go",
    "html",
    "java",
    "javascript",
    "kotlin",
    "php",
    "python",
    "ruby",
    "rust",
    "sql",
    "swift",
    "typescript",
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ISO_639_1 = r"^[a-z]{2}$"
_LOCALE = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$"
_HOURS = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$"
ONE_OR_MANY = "x-one-or-many"
"""JSON Schema marker: the field also accepts a single item (see ``rule_set_json_schema``)."""


def _listify(value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, bool):
            # YAML 1.1 reads no/yes/on/off as booleans: 'no' (Norwegian) is the usual victim.
            raise ValueError(f"got the YAML boolean {str(item).lower()}; quote the value, e.g. 'no'")
    return items


T = TypeVar("T")
OneOrMany = Annotated[list[T], BeforeValidator(_listify), Field(json_schema_extra={ONE_OR_MANY: True})]
"""A value or a list of values (any of them may match)."""
IsoLanguage = Annotated[str, StringConstraints(pattern=_ISO_639_1)]
LocaleTag = Annotated[str, StringConstraints(pattern=_LOCALE)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_bounds(gte: float | None, lte: float | None) -> None:
    if gte is None and lte is None:
        raise ValueError("give gte, lte or both")
    if gte is not None and lte is not None and gte > lte:
        raise ValueError(f"gte {gte} is greater than lte {lte}")


class Range(_Strict):
    """A numeric bound: ``{gte: x}``, ``{lte: y}`` or both (inclusive)."""

    gte: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Range:
        _check_bounds(self.gte, self.lte)
        return self


class CountRange(_Strict):
    """A bound on a count (turn number, complaints): whole numbers, inclusive."""

    gte: int | None = Field(default=None, ge=0)
    lte: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_bound(self) -> CountRange:
        _check_bounds(self.gte, self.lte)
        return self


class UserCondition(_Strict):
    """Conditions on the :class:`~poise.instructions.types.UserProfile` the app passed."""

    expertise: OneOrMany[Expertise] | None = None
    locale: OneOrMany[LocaleTag] | None = Field(
        default=None, description="Prefix match on subtags: 'de' matches 'de-AT'; 'en-GB' only 'en-GB'."
    )
    language: OneOrMany[IsoLanguage] | None = Field(default=None, description="ISO 639-1 code(s).")
    tier: OneOrMany[str] | None = None
    preferences: dict[str, OneOrMany[str]] | None = None


class TimeCondition(_Strict):
    """The request time, in ``timezone``: an hour range (may wrap past midnight) and/or weekdays."""

    hours: str | None = Field(
        default=None,
        pattern=_HOURS,
        description="'HH:MM-HH:MM', start inclusive, end exclusive; '22:00-06:00' wraps midnight.",
    )
    weekdays: list[Weekday] | None = Field(default=None, min_length=1)
    timezone: str = Field(default="UTC", description="IANA name, e.g. 'Europe/Berlin'.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r} (use an IANA name like 'Europe/Berlin')") from None
        return v

    @model_validator(mode="after")
    def _something(self) -> TimeCondition:
        if self.hours is None and self.weekdays is None:
            raise ValueError("give hours, weekdays or both")
        return self


class Condition(_Strict):
    """A set of tests that must all hold. Lists mean 'any of these values'."""

    task: OneOrMany[Task] | None = None
    code_language: OneOrMany[CodeLanguage] | None = None
    language: OneOrMany[IsoLanguage] | None = Field(
        default=None, description="Detected natural language of the last user message (ISO 639-1)."
    )
    user: UserCondition | None = None
    turn: CountRange | None = None
    sentiment: Range | None = Field(default=None, description="VADER compound of the last message.")
    recent_sentiment: Range | None = Field(default=None, description="Mean over the last 3 messages.")
    complaints: CountRange | None = None
    time: TimeCondition | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError("a condition needs at least one key")
        return self


def _as_list(value: str | Sequence[str] | None) -> Sequence[str]:
    # No copy: the values are validated strings, and this runs for every rule on every request.
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value


def _is(name: str, actual: str, wanted: Sequence[str]) -> str:
    if len(wanted) == 1:
        return f"{name} = {actual}"
    if len(wanted) > 4:
        return f"{name} = {actual} (one of {len(wanted)} listed)"
    return f"{name} = {actual} (one of {', '.join(wanted)})"


def _range(name: str, value: float, bound: Range | CountRange, fmt: str) -> str | None:
    parts = []
    if bound.gte is not None:
        if value < bound.gte:
            return None
        parts.append(f"{name} {value:{fmt}} >= {bound.gte:{fmt}}")
    if bound.lte is not None:
        if value > bound.lte:
            return None
        parts.append(f"{name} {value:{fmt}} <= {bound.lte:{fmt}}")
    return " and ".join(parts)


def locale_matches(actual: str, wanted: str) -> bool:
    """Subtag-prefix match: ``de`` matches ``de-AT``; ``en-GB`` matches ``en-gb`` but not ``en``."""
    have = actual.replace("_", "-").lower().split("-")
    want = wanted.replace("_", "-").lower().split("-")
    return have[: len(want)] == want


def _user_reasons(cond: UserCondition, context: RequestContext) -> list[str] | None:
    user = context.user
    reasons: list[str] = []
    for key in ("expertise", "language", "tier"):
        wanted = _as_list(getattr(cond, key))
        if not wanted:
            continue
        actual = getattr(user, key)
        if actual is None or actual not in wanted:
            return None
        reasons.append(_is(f"user.{key}", actual, wanted))
    wanted = _as_list(cond.locale)
    if wanted:
        match = next((w for w in wanted if user.locale and locale_matches(user.locale, w)), None)
        if match is None or user.locale is None:
            return None
        reasons.append(f"user.locale {user.locale} matches {match}")
    for key, value in sorted((cond.preferences or {}).items()):
        options = _as_list(value)
        actual = user.preferences.get(key)
        if actual is None or actual not in options:
            return None
        reasons.append(_is(f"user.preferences.{key}", actual, options))
    return reasons


def _parse_hours(hours: str) -> tuple[time, time]:
    start, end = hours.split("-")
    h2, m2 = (int(x) for x in end.split(":"))
    end_t = time.max if h2 == 24 else time(h2, m2)
    return time.fromisoformat(start), end_t


def _time_reasons(cond: TimeCondition, now: datetime) -> list[str] | None:
    local = now.astimezone(ZoneInfo(cond.timezone))
    reasons: list[str] = []
    if cond.hours is not None:
        start, end = _parse_hours(cond.hours)
        t = local.time().replace(tzinfo=None)
        inside = start <= t < end if start <= end else (t >= start or t < end)
        if not inside:
            return None
        reasons.append(f"time {local:%H:%M} ({cond.timezone}) within {cond.hours}")
    if cond.weekdays is not None:
        day = WEEKDAYS[local.weekday()]
        if day not in cond.weekdays:
            return None
        reasons.append(f"weekday {day} ({cond.timezone}) in {', '.join(cond.weekdays)}")
    return reasons


def condition_reasons(
    cond: Condition, context: RequestContext, signals: Signals, now: datetime
) -> list[str] | None:
    """Test every key of ``cond``.

    Args:
        cond: the condition.
        context: the request (user profile, time).
        signals: what analysis detected.
        now: the request time, timezone-aware.

    Returns:
        One reason per key when all hold, ``None`` when any fails.
    """
    reasons: list[str] = []
    if cond.task is not None:
        wanted = _as_list(cond.task)
        if signals.task not in wanted:
            return None
        score = signals.task_scores.get(signals.task)
        detail = [f"score {score:.2f}"] if score is not None else []
        if signals.task_cues:
            detail.append("cues: " + ", ".join(repr(c) for c in signals.task_cues[:3]))
        suffix = f" ({'; '.join(detail)})" if detail else ""
        reasons.append(_is("task", signals.task, wanted) + suffix)
    if cond.code_language is not None:
        wanted = _as_list(cond.code_language)
        if signals.code_language not in wanted:
            return None
        evidence = f" ({signals.code_language_evidence})" if signals.code_language_evidence else ""
        reasons.append(_is("code_language", signals.code_language or "", wanted) + evidence)
    if cond.language is not None:
        wanted = _as_list(cond.language)
        if signals.language not in wanted:
            return None
        reasons.append(
            _is("language", signals.language or "", wanted)
            + f" (detected, confidence {signals.language_confidence:.2f})"
        )
    if cond.user is not None:
        user = _user_reasons(cond.user, context)
        if user is None:
            return None
        reasons.extend(user)
    checks: list[tuple[str, float, Range | CountRange | None, str]] = [
        ("turn", signals.turn, cond.turn, "d"),
        ("sentiment", signals.sentiment, cond.sentiment, ".2f"),
        ("recent_sentiment", signals.recent_sentiment, cond.recent_sentiment, ".2f"),
        ("complaints", signals.complaints, cond.complaints, "d"),
    ]
    for name, value, bound, fmt in checks:
        if bound is None:
            continue
        reason = _range(name, value, bound, fmt)
        if reason is None:
            return None
        if name == "complaints":
            reason += f" (in the last {COMPLAINT_WINDOW} user messages)"
        reasons.append(reason)
    if cond.time is not None:
        timed = _time_reasons(cond.time, now)
        if timed is None:
            return None
        reasons.extend(timed)
    return reasons


def describe(cond: Condition) -> str:
    """A compact rendering for 'unless' reasons: ``user.expertise=expert, task=code``."""
    flat: list[str] = []

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list):
            flat.append(f"{prefix} in [{', '.join(str(x) for x in value)}]")
        else:
            flat.append(f"{prefix}={value}")

    walk("", cond.model_dump(exclude_none=True, exclude_defaults=False))
    return ", ".join(flat)


def resolve_now(now: datetime | None) -> datetime:
    """The request time as an aware datetime: ``None`` is now; a naive datetime is taken as UTC."""
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)
