"""Each condition type, alone: when it holds, when it does not, and the reason it gives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from poise.instructions import evaluate_rules
from poise.instructions.conditions import locale_matches

from .helpers import ctx, rules, signals

S = signals
CASES: list[Any] = [
    # (condition, signals, context kwargs, expected reasons or None)
    pytest.param(
        {"task": "code"},
        S(task="code", task_scores={"code": 0.61}),
        {},
        ["task = code (score 0.61)"],
        id="task-holds",
    ),
    pytest.param(
        {"task": ["medical", "legal"]},
        S(task="legal", task_scores={"legal": 0.5}),
        {},
        ["task = legal (one of medical, legal) (score 0.50)"],
        id="task-any-of",
    ),
    pytest.param({"task": "code"}, S(task="general"), {}, None, id="task-fails"),
    pytest.param(
        {"code_language": "python"},
        S(code_language="python", code_language_evidence="in a ```python block"),
        {},
        ["code_language = python (in a ```python block)"],
        id="code-language-holds",
    ),
    pytest.param(
        {"code_language": ["python"]}, S(code_language="javascript"), {}, None, id="code-language-fails"
    ),
    pytest.param({"code_language": "python"}, S(), {}, None, id="code-language-unknown-fails"),
    pytest.param(
        {"language": "de"},
        S(language="de", language_confidence=0.99),
        {},
        ["language = de (detected, confidence 0.99)"],
        id="language-holds",
    ),
    pytest.param({"language": "de"}, S(language=None), {}, None, id="language-unknown-fails"),
    pytest.param(
        {"user": {"expertise": "beginner"}},
        S(),
        {"expertise": "beginner"},
        ["user.expertise = beginner"],
        id="expertise-holds",
    ),
    pytest.param({"user": {"expertise": "beginner"}}, S(), {}, None, id="expertise-unset-fails"),
    pytest.param(
        {"user": {"locale": "de"}},
        S(),
        {"locale": "de-AT"},
        ["user.locale de-AT matches de"],
        id="locale-prefix",
    ),
    pytest.param({"user": {"locale": "de"}}, S(), {"locale": "dk"}, None, id="locale-other"),
    pytest.param({"user": {"locale": "en-GB"}}, S(), {"locale": "en-US"}, None, id="locale-region"),
    pytest.param(
        {"user": {"language": "fr"}}, S(), {"language": "fr"}, ["user.language = fr"], id="user-language"
    ),
    pytest.param(
        {"user": {"tier": ["pro", "team"]}},
        S(),
        {"tier": "team"},
        ["user.tier = team (one of pro, team)"],
        id="tier-any-of",
    ),
    pytest.param(
        {"user": {"preferences": {"verbosity": "short"}}},
        S(),
        {"preferences": {"verbosity": "short"}},
        ["user.preferences.verbosity = short"],
        id="preference-holds",
    ),
    pytest.param(
        {"user": {"preferences": {"verbosity": "short"}}},
        S(),
        {"preferences": {"verbosity": "long"}},
        None,
        id="preference-fails",
    ),
    pytest.param({"user": {"preferences": {"verbosity": "short"}}}, S(), {}, None, id="preference-missing"),
    pytest.param({"turn": {"gte": 10}}, S(turn=12), {}, ["turn 12 >= 10"], id="turn-gte"),
    pytest.param({"turn": {"gte": 10}}, S(turn=9), {}, None, id="turn-below"),
    pytest.param(
        {"turn": {"gte": 2, "lte": 4}}, S(turn=3), {}, ["turn 3 >= 2 and turn 3 <= 4"], id="turn-between"
    ),
    pytest.param(
        {"sentiment": {"lte": -0.4}}, S(sentiment=-0.62), {}, ["sentiment -0.62 <= -0.40"], id="sentiment-lte"
    ),
    pytest.param({"sentiment": {"lte": -0.4}}, S(sentiment=-0.2), {}, None, id="sentiment-not-low"),
    pytest.param(
        {"recent_sentiment": {"gte": 0.5}},
        S(recent_sentiment=0.7),
        {},
        ["recent_sentiment 0.70 >= 0.50"],
        id="recent-sentiment",
    ),
    pytest.param(
        {"complaints": {"gte": 2}},
        S(complaints=3),
        {},
        ["complaints 3 >= 2 (in the last 5 user messages)"],
        id="complaints",
    ),
    pytest.param({"complaints": {"gte": 2}}, S(complaints=1), {}, None, id="complaints-few"),
]


@pytest.mark.parametrize(("condition", "sig", "user", "expected"), CASES)
def test_condition(condition: dict[str, Any], sig: Any, user: dict[str, Any], expected: list[str] | None):
    rs = rules({"id": "r", "when": condition, "add": "x"})
    result = evaluate_rules(rs, ctx("hello", **user), sig)
    if expected is None:
        assert result.fired == ()
    else:
        assert result.fired[0].reasons == tuple(expected)


def _at(hour: int, minute: int = 0, day: int = 4) -> datetime:
    return datetime(2025, 6, day, hour, minute, tzinfo=UTC)  # 2025-06-04 is a Wednesday


TIME_CASES: list[Any] = [
    pytest.param({"hours": "09:00-17:00"}, _at(12), "time 12:00 (UTC) within 09:00-17:00", id="inside"),
    pytest.param({"hours": "09:00-17:00"}, _at(17), None, id="end-exclusive"),
    pytest.param(
        {"hours": "09:00-17:00"}, _at(9), "time 09:00 (UTC) within 09:00-17:00", id="start-inclusive"
    ),
    pytest.param(
        {"hours": "22:00-06:00"}, _at(23, 30), "time 23:30 (UTC) within 22:00-06:00", id="wrap-late"
    ),
    pytest.param({"hours": "22:00-06:00"}, _at(3), "time 03:00 (UTC) within 22:00-06:00", id="wrap-early"),
    pytest.param({"hours": "22:00-06:00"}, _at(12), None, id="wrap-outside"),
    pytest.param(
        {"hours": "22:00-06:00", "timezone": "Europe/Berlin"},
        _at(21, 30),
        "time 23:30 (Europe/Berlin) within 22:00-06:00",
        id="timezone-shifts",
    ),
    pytest.param(
        {"hours": "00:00-24:00"}, _at(23, 59), "time 23:59 (UTC) within 00:00-24:00", id="whole-day"
    ),
    pytest.param({"weekdays": ["sat", "sun"]}, _at(12, day=7), "weekday sat (UTC) in sat, sun", id="weekend"),
    pytest.param({"weekdays": ["sat", "sun"]}, _at(12), None, id="weekday-not-weekend"),
    pytest.param(
        {"weekdays": ["sat"], "timezone": "Pacific/Auckland"},
        _at(13, day=6),
        "weekday sat (Pacific/Auckland) in sat",
        id="weekday-in-timezone",
    ),
]


@pytest.mark.parametrize(("time_cond", "now", "expected"), TIME_CASES)
def test_time_condition(time_cond: dict[str, Any], now: datetime, expected: str | None):
    rs = rules({"id": "r", "when": {"time": time_cond}, "add": "x"})
    result = evaluate_rules(rs, ctx("hi", now=now), signals())
    assert (result.fired[0].reasons[0] if result.fired else None) == expected


def test_naive_now_is_taken_as_utc():
    rs = rules({"id": "r", "when": {"time": {"hours": "11:00-13:00"}}, "add": "x"})
    result = evaluate_rules(rs, ctx("hi", now=datetime(2025, 6, 4, 12, 0)), signals())
    assert result.fired[0].reasons == ("time 12:00 (UTC) within 11:00-13:00",)


@pytest.mark.parametrize(
    ("actual", "wanted", "matches"),
    [
        ("de-AT", "de", True),
        ("de_AT", "de-at", True),
        ("de", "de-AT", False),
        ("dek", "de", False),
        ("EN-gb", "en-GB", True),
    ],
    ids=["prefix", "underscore-and-case", "narrower-wanted", "not-a-subtag", "case-insensitive"],
)
def test_locale_matching(actual: str, wanted: str, matches: bool):
    assert locale_matches(actual, wanted) is matches
