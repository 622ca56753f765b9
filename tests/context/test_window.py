from __future__ import annotations

import pytest

from poise.context.store import StoredMessage, Summary
from poise.context.window import SUMMARY_PREFIX, ContextWindow
from poise.errors import ContextBudgetError


def words(text: str) -> int:
    return len(text.split())


def history(n: int, size: int = 10) -> list[StoredMessage]:
    return [
        StoredMessage(i + 1, "user" if i % 2 == 0 else "assistant", " ".join([f"w{i}"] * size), "ok", 0.0)
        for i in range(n)
    ]


def test_everything_fits_when_budget_allows():
    window = ContextWindow(words, context_window=1000, reserve_tokens=100, per_message_overhead=0)
    plan = window.plan("sys " * 20, history(6), "hello there")
    assert plan.history_included == 6 and plan.summarize_upto is None and plan.dropped == 0
    assert [m.role for m in plan.messages] == ["system", "user", "assistant"] * 1 + [
        "user",
        "assistant",
    ] * 2 + ["user"]
    assert plan.prompt_tokens == 20 + 60 + 2


def test_oldest_turns_left_out_newest_kept_and_persona_never_dropped():
    window = ContextWindow(words, context_window=100, reserve_tokens=20, per_message_overhead=0)
    plan = window.plan("sys " * 30, history(8), "hi")  # 30 + 2 fixed, 48 left: 4 messages of 10
    assert plan.messages[0].content.startswith("sys")
    assert plan.history_included == 4
    assert plan.summarize_upto == 4
    assert [m.content.split()[0] for m in plan.messages[1:-1]] == ["w4", "w5", "w6", "w7"]
    assert plan.prompt_tokens <= plan.budget


def test_summary_stands_in_for_folded_turns():
    window = ContextWindow(words, context_window=110, reserve_tokens=20, per_message_overhead=0)
    summary = Summary(upto_seq=4, content="user asked about cards")
    plan = window.plan("sys " * 30, history(8), "hi", summary=summary)
    assert plan.used_summary and plan.summarize_upto is None
    assert plan.messages[1].role == "system" and plan.messages[1].content.startswith(SUMMARY_PREFIX)
    assert plan.history_included == 4 and plan.history_total == 4


def test_reminder_goes_right_before_the_user_message():
    window = ContextWindow(words, context_window=1000, reserve_tokens=100)
    plan = window.plan("sys", history(2), "question", reminder="remember who you are")
    assert plan.messages[-2].content == "remember who you are" and plan.messages[-2].role == "system"
    assert plan.reminder_injected


def test_persona_too_large_for_context_is_a_clear_error():
    window = ContextWindow(words, context_window=50, reserve_tokens=10)
    with pytest.raises(ContextBudgetError, match="persona prompt takes") as info:
        window.plan("sys " * 60, [], "hi")
    assert info.value.available == 40


def test_message_too_long_is_a_clear_error():
    window = ContextWindow(words, context_window=50, reserve_tokens=10, per_message_overhead=0)
    with pytest.raises(ContextBudgetError, match="send a shorter message"):
        window.plan("sys", [], "word " * 100)


def test_reserve_larger_than_context_is_rejected():
    with pytest.raises(ContextBudgetError, match="lower max_tokens"):
        ContextWindow(words, context_window=100, reserve_tokens=100)
