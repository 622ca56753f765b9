"""Many-shot jailbreak structure: a single message that fabricates a long dialogue.

A many-shot jailbreak pastes dozens of invented turns ("User: how do I ... / Assistant: Sure,
here is ...") so that the model continues the pattern. The signal is structural: many alternating
role markers, assistant turns that always comply, and a final open user turn. A short pasted chat
or a FAQ with a few Q/A pairs stays below the threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from poise.guard.types import Span

__all__ = ["ManyShotAnalysis", "analyze_turns"]

_USER = (
    r"user|human|me|q|question|prompt|input|usuario|pregunta|utilisateur|question|benutzer|nutzer|frage"
    r"|utente|domanda|usu[aá]rio|pergunta|пользователь|вопрос|用户|问|ユーザー|質問"
)
_BOT = (
    r"assistant|ai|bot|gpt|chatgpt|model|a|answer|response|output|asistente|respuesta|assistante|r[ée]ponse"
    r"|antwort|ki|assistente|risposta|resposta|ассистент|ответ|助手|答|アシスタント|回答"
)
_TURN_RE = re.compile(
    rf"^[ \t>*#\-\[]{{0,6}}(?:(?P<user>{_USER})|(?P<bot>{_BOT}))[ \t]*\]?[ \t]*\**[ \t]*[:：]",
    re.IGNORECASE | re.MULTILINE,
)
_COMPLY_RE = re.compile(
    r"[ \t*]*(?:sure|of course|certainly|absolutely|here(?:'s| is| are)|step 1|first,|okay|ok[,.!]|yes"
    r"|claro|por supuesto|bien s[uû]r|bien sûr|natürlich|certo|certamente|конечно|当然|好的|もちろん)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ManyShotAnalysis:
    """How much a text looks like a fabricated many-turn dialogue."""

    user_turns: int
    assistant_turns: int
    compliance_ratio: float
    ends_with_user_turn: bool
    score: float
    span: Span | None


def analyze_turns(text: str, *, max_turns: int = 4096) -> ManyShotAnalysis:
    """Count role markers in ``text`` (normalized text; spans are in its coordinates)."""
    users = bots = comply = 0
    first = last_end = -1
    last_role = ""
    for m in _TURN_RE.finditer(text):
        if users + bots >= max_turns:
            break
        if first < 0:
            first = m.start()
        last_end = m.end()
        if m.group("user") is not None:
            users += 1
            last_role = "user"
        else:
            bots += 1
            last_role = "bot"
            if _COMPLY_RE.match(text, m.end()):
                comply += 1
    pairs = min(users, bots)
    ratio = comply / bots if bots else 0.0
    if pairs < 4:
        score = 0.0
    else:
        score = 0.3 + 0.45 * min(1.0, (pairs - 4) / 24) + 0.25 * ratio
        score += 0.05 if last_role == "user" else 0.0
    span = Span(first, max(last_end, first), "dialogue") if first >= 0 else None
    return ManyShotAnalysis(users, bots, ratio, last_role == "user", min(1.0, score), span)
