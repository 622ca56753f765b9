"""Token estimates for backends whose tokenizer is not available locally.

Remote APIs count tokens with tokenizers poise does not ship; when a server reports no usage, or a
caller needs a count before sending, poise falls back to the usual rule of thumb of about four
characters per token (rounded up), plus a few tokens of chat framing per message.
"""

from __future__ import annotations

from collections.abc import Sequence

from poise.models.types import ChatMessage

CHARS_PER_TOKEN = 4
"""Average characters per token of English text with BPE tokenizers."""

MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens a chat template adds around each message (role markers, separators)."""


def estimate_tokens(text: str) -> int:
    """Estimate the tokens in ``text`` (``ceil(len / 4)``; 0 for an empty string)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def estimate_prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    """Estimate the prompt tokens of a conversation, chat framing included."""
    return sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in messages)
