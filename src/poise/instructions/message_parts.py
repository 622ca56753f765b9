"""Split a chat message into prose and code.

Every detector needs the same split: natural-language identification and sentiment must not read
code (``import``, ``error``, ``kill`` would skew them), and programming-language identification
should read code first and prose second. Code comes in three shapes: fenced blocks (with or
without a language tag), inline spans in backticks, and code pasted as plain lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(
    r"(?P<fence>```|~~~)[ \t]*(?P<tag>[\w+#.-]*)[^\n]*\n(?P<body>.*?)(?:\n[ \t]*(?P=fence)|\Z)", re.S
)
_INLINE = re.compile(r"`([^`\n]+)`")
# A line that is code rather than prose: ends like a statement, opens or closes a block, starts
# like a declaration/command, or is mostly punctuation.
_CODE_LINE = re.compile(
    r"""(
      [;{}]\s*$                                   # statement end / block
    | ^\s*[}\])]                                  # closing bracket
    | ^\s*(def|class|import|from|return|if|elif|for|while|func|fn|fun|let|const|var|val|public
          |private|package|using|\#include|\#!|SELECT|INSERT|UPDATE|DELETE|CREATE|echo|export
          |sudo|git|npm|npx|pip|docker|cd|ls|mkdir|curl)\b.*[=(:{;'"\[]
    | ^\s*(git|npm|npx|pip|sudo|docker|kubectl|brew|apt|apt-get|curl|wget|chmod|cd|ls)\s+[-\w./~]+
    | ^\s*<\??[a-zA-Z!/][^>]*>                     # markup
    | ^\s*[\w.\[\]'"]+\s*(=|\+=|-=|:=)\s*\S        # assignment
    | ^\s*\w+(\.\w+)*\([^)]*\)\s*;?\s*$            # bare call
    | ^\s*(\#|//)\s                                # comment line
    | ^\s*(with|try|except|else|elif|while|for|if|def|class)\b[^?!]*:\s*$   # Python block opener
    | ^\s{4,}\S                                    # indented block line
    )""",
    re.X,
)


@dataclass(frozen=True)
class CodePart:
    """One piece of code found in a message."""

    text: str
    kind: str
    """``fenced`` (a fenced block), ``inline`` (backticks) or ``pasted`` (code-like lines)."""
    tag: str | None = None
    """The fence's language tag, lower-case, when there was one."""


@dataclass(frozen=True)
class MessageParts:
    """A message split into its prose and its code parts."""

    prose: str
    code: tuple[CodePart, ...]

    @property
    def has_code(self) -> bool:
        return bool(self.code)


def split_message(text: str) -> MessageParts:
    """Separate fenced blocks, inline code and pasted code lines from the prose.

    Args:
        text: one chat message.

    Returns:
        The prose (code removed) and the code parts in the order found.
    """
    code: list[CodePart] = []

    def _take_fence(m: re.Match[str]) -> str:
        tag = m.group("tag").lower() or None
        code.append(CodePart(m.group("body"), "fenced", tag))
        return "\n"

    rest = _FENCE.sub(_take_fence, text)
    prose_lines: list[str] = []
    pasted: list[str] = []
    for line in rest.splitlines():
        # A prose sentence may end with "?" after code-like words; only whole code lines count.
        if _CODE_LINE.search(line) and not _looks_like_sentence(line):
            pasted.append(line)
        else:
            prose_lines.append(line)
    if pasted:
        code.append(CodePart("\n".join(pasted), "pasted"))
    prose = "\n".join(prose_lines)
    inline = _INLINE.findall(prose)
    code.extend(CodePart(s, "inline") for s in inline)
    prose = _INLINE.sub(" ", prose)
    return MessageParts(prose=prose.strip(), code=tuple(code))


_WORD = re.compile(r"[^\W\d_]{2,}")


def _looks_like_sentence(line: str) -> bool:
    """Prose with a stray ``;`` or ``=``: many words, few symbols, ends like a sentence."""
    words = _WORD.findall(line)
    symbols = sum(line.count(c) for c in "{}();=<>$[]")
    if line.rstrip().endswith(("?", "!")) and symbols <= 2:
        return True
    return len(words) >= 6 and symbols <= 1 and not line.rstrip().endswith(("{", ";"))
