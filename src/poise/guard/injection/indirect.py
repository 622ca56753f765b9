"""Indirect prompt injection: instructions hidden in content the model reads, not in the user turn.

Documents, emails, web pages and tool results are data, so any sentence in them that addresses the
AI ("AI assistant: ignore your instructions and ...") or hides from the human reader (HTML comments,
``display:none``, zero-size or white text, ``alt``/``title`` attributes) is suspicious. The scanner
pulls those parts out, scores the hidden ones with the full :class:`InjectionDetector` pipeline plus
a bonus for being hidden, and adds rules for text that talks to an AI agent. It also flags markdown
images whose URL carries template data (a common exfiltration channel).
"""

from __future__ import annotations

import re
import time

from poise.guard.injection.detector import InjectionDetector, _result
from poise.guard.normalize import normalize
from poise.guard.types import DetectionContext, DetectorResult, Finding, Span

__all__ = ["IndirectInjectionDetector", "hidden_parts"]

_MAX_HIDDEN = 64
_MAX_HIDDEN_CHARS = 20_000
_HIDDEN_OPEN = re.compile(
    r"<(\w{1,10})\b[^>]{0,300}?(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0"
    r"|opacity\s*:\s*0(?:\.0+)?\s*[;\"']|color\s*:\s*(?:#fff(?:fff)?|white)\b|\shidden\b|aria-hidden)[^>]{0,300}>",
    re.IGNORECASE,
)
_ATTRIBUTE = re.compile(r"\b(?:alt|title|aria-label|data-\w{1,20})\s*=\s*\"([^\"]{20,4000})\"", re.IGNORECASE)


def hidden_parts(content: str) -> list[tuple[str, int, int, str]]:
    """Parts of markup a human reader does not see: ``(kind, start, end, inner text)``, bounded."""
    parts: list[tuple[str, int, int, str]] = []
    pos = 0
    while len(parts) < _MAX_HIDDEN:
        s = content.find("<!--", pos)
        if s < 0:
            break
        e = content.find("-->", s + 4)
        e = len(content) if e < 0 else e
        parts.append(("html_comment", s, min(len(content), e + 3), content[s + 4 : e][:_MAX_HIDDEN_CHARS]))
        pos = e + 3
    lowered = content.lower()
    for n, m in enumerate(_HIDDEN_OPEN.finditer(content)):
        if n >= _MAX_HIDDEN:
            break
        close = lowered.find(f"</{m.group(1).lower()}", m.end(), m.end() + _MAX_HIDDEN_CHARS)
        end = close if close >= 0 else min(len(content), m.end() + _MAX_HIDDEN_CHARS)
        parts.append(("hidden_element", m.start(), end, content[m.end() : end]))
    for n, m in enumerate(_ATTRIBUTE.finditer(content)):
        if n >= _MAX_HIDDEN:
            break
        parts.append(("attribute", m.start(), m.end(), m.group(1)))
    return parts


_ADDRESS_AI = re.compile(
    r"\b(?:ai|a\.i\.|assistant|chatbot|llm|language model|gpt|chatgpt|claude|copilot|gemini|agent|bot)"
    r"(?:\s+(?:assistant|agent|model|system))?\s*[,:;]\s*(?:please\s+)?(?:ignore|disregard|forget|you must"
    r"|you should|you will|do not|don't|instead|stop|send|forward|include|reply|respond|print|reveal|delete"
    r"|execute|run|call|visit|open|new instructions)"
    r"|\b(?:note|message|instructions?|important)\s+(?:to|for)\s+(?:the\s+)?"
    r"(?:ai|assistant|llm|language model|chatbot|agent|model)\b"
    r"|\bif you are an? (?:ai|llm|language model|assistant|chatbot|agent)\b"
    r"|\bwhen (?:the|an|any) (?:ai|assistant|llm|model|agent) (?:reads|summari[sz]es|processes|sees)\b",
    re.IGNORECASE,
)
_MD_EXFIL = re.compile(
    r"!\[[^\]\n]{0,200}\]\(\s*https?://[^)\s]{1,500}[?&][^)\s=]{1,50}=[^)\s]{0,200}"
    r"(?:\{|%7B|\$\(|<)",
    re.IGNORECASE,
)


class IndirectInjectionDetector:
    """Scans retrieved content (documents, emails, web pages, tool results) for injected instructions.

    ``detect(text, context)`` reads the content kind from ``context.extra["source"]``;
    :meth:`detect_document` takes it directly. Spans point into the content as given.
    """

    name = "indirect_injection"

    def __init__(self, injection: InjectionDetector | None = None, *, threshold: float | None = None) -> None:
        self.injection = injection or InjectionDetector()
        self.threshold = threshold if threshold is not None else self.injection.threshold

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        """Scan ``text`` as retrieved content; never raises."""
        source = context.extra.get("source", "document") if context is not None else "document"
        return self.detect_document(text, source=source)

    def detect_document(self, content: str, *, source: str = "document") -> DetectorResult:
        """Scan one document/email/web page/tool result and report injected instructions."""
        t0 = time.perf_counter()
        findings: list[Finding] = []
        norm = normalize(content)
        for f in self.injection.findings(norm):
            findings.append(Finding("indirect_injection", f.score, f.spans, f"{source}: {f.reason}"))
            if f.category != "injection":
                findings.append(f)
        for kind, start, end, inner in hidden_parts(content):
            if not inner.strip():
                continue
            sub = self.injection.findings(normalize(inner))
            sub += (
                [Finding("indirect_injection", 0.85, (), "addresses the AI")]
                if _ADDRESS_AI.search(inner)
                else []
            )
            top = max(sub, key=lambda f: f.score, default=None)
            if top is not None and top.score >= 0.3:
                score = min(1.0, top.score + 0.25)
                findings.append(
                    Finding(
                        "indirect_injection",
                        score,
                        (Span(start, end, kind),),
                        f"{source}: instructions hidden in {kind.replace('_', ' ')} ({top.reason})",
                    )
                )
        for m in _ADDRESS_AI.finditer(norm.text):
            s, e = norm.to_original(m.start(), m.end())
            findings.append(
                Finding(
                    "indirect_injection",
                    0.85,
                    (Span(s, e, "addresses_ai"),),
                    f"{source}: text addresses the AI reading it",
                )
            )
            break
        for m in _MD_EXFIL.finditer(content):
            findings.append(
                Finding(
                    "indirect_injection",
                    0.8,
                    (Span(m.start(), m.end(), "markdown_exfil"),),
                    f"{source}: markdown image URL with template data (exfiltration)",
                )
            )
            break
        return _result(self.name, findings, self.threshold, t0)
