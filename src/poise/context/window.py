"""Fit a conversation into the model's context window without ever dropping the persona.

The budget is the model's context window minus the tokens reserved for the reply. The system
prompt (the compiled persona), the new user message and the persona reminder are fixed costs;
the history fills what is left, newest first. When older turns do not fit, the plan says which
ones should be summarized (the engine asks the model for the summary and plans again); the
summary then stands in for them. Tokens are counted with the model's own tokenizer when it has
one (``ChatModel.count_tokens``), plus a small per-message overhead for the chat template.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from poise.context.store import StoredMessage, Summary
from poise.errors import ContextBudgetError
from poise.models.types import ChatMessage

PER_MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message (role markers, separators)."""

SUMMARY_PREFIX = "Summary of the earlier conversation (older turns were condensed):\n"


@dataclass(frozen=True)
class WindowPlan:
    """The messages to send and how the history was fitted."""

    messages: tuple[ChatMessage, ...]
    prompt_tokens: int
    budget: int
    history_included: int
    history_total: int
    summarize_upto: int | None
    """When set, history up to this ``seq`` did not fit and should be summarized."""
    used_summary: bool
    reminder_injected: bool

    @property
    def dropped(self) -> int:
        return self.history_total - self.history_included


class ContextWindow:
    """Plans what to send for one turn."""

    def __init__(
        self,
        count_tokens: Callable[[str], int],
        context_window: int,
        reserve_tokens: int,
        *,
        per_message_overhead: int = PER_MESSAGE_OVERHEAD,
    ) -> None:
        if reserve_tokens >= context_window:
            raise ContextBudgetError(
                f"max_tokens ({reserve_tokens}) leaves no room for the prompt in a "
                f"{context_window}-token context window; lower max_tokens",
                needed=reserve_tokens,
                available=context_window,
            )
        self.count_tokens = count_tokens
        self.context_window = context_window
        self.budget = context_window - reserve_tokens
        self.overhead = per_message_overhead

    def cost(self, text: str) -> int:
        return self.count_tokens(text) + self.overhead

    def plan(
        self,
        system_prompt: str,
        history: Sequence[StoredMessage],
        user_message: str,
        *,
        summary: Summary | None = None,
        reminder: str | None = None,
    ) -> WindowPlan:
        """Choose the messages for this turn; raises if the fixed parts alone do not fit."""
        system_cost = self.cost(system_prompt)
        if system_cost > self.budget:
            raise ContextBudgetError(
                f"the persona prompt takes {system_cost} tokens but only {self.budget} are available "
                f"(context {self.context_window} minus the reply reserve); shorten the persona "
                "(fewer examples or knowledge snippets) or use a model with a larger context",
                needed=system_cost,
                available=self.budget,
            )
        fixed = system_cost + self.cost(user_message) + (self.cost(reminder) if reminder else 0)
        if fixed > self.budget:
            raise ContextBudgetError(
                f"this message is too long for the model: it needs {fixed - system_cost} tokens with "
                f"{self.budget - system_cost} left after the persona; send a shorter message",
                needed=fixed,
                available=self.budget,
            )
        pending = [m for m in history if summary is None or m.seq > summary.upto_seq]
        summary_text = SUMMARY_PREFIX + summary.content if summary else None
        remaining = self.budget - fixed
        if summary_text is not None:
            summary_cost = self.cost(summary_text)
            if summary_cost <= remaining:
                remaining -= summary_cost
            else:
                summary_text = None

        kept: list[StoredMessage] = []
        for message in reversed(pending):
            c = self.cost(message.content)
            if c > remaining:
                break
            kept.append(message)
            remaining -= c
        kept.reverse()
        left_out = pending[: len(pending) - len(kept)]
        summarize_upto = left_out[-1].seq if left_out else None

        messages: list[ChatMessage] = [ChatMessage("system", system_prompt)]
        if summary_text is not None:
            messages.append(ChatMessage("system", summary_text))
        messages.extend(ChatMessage(m.role, m.content) for m in kept)  # type: ignore[arg-type]
        if reminder:
            messages.append(ChatMessage("system", reminder))
        messages.append(ChatMessage("user", user_message))
        return WindowPlan(
            messages=tuple(messages),
            prompt_tokens=self.budget - remaining,
            budget=self.budget,
            history_included=len(kept),
            history_total=len(pending),
            summarize_upto=summarize_upto,
            used_summary=summary_text is not None,
            reminder_injected=bool(reminder),
        )
