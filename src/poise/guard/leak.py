"""Detect a model reply that leaks its system prompt, a named secret or the session canary.

Three independent signals, checked on the reply *and* on its normalized and decoded forms
(:func:`poise.guard.normalize.normalize`: spaced letters, homoglyphs, base64, hex, ROT13 ...):

* **canary**: a random token from :func:`make_canary` placed in the system prompt. It never occurs
  in normal text, so finding it (also spaced out, reversed, ROT13'd or encoded) is proof of a leak.
* **secrets**: values the policy names (``DetectionContext.secrets``) plus those the prompt itself
  marks as secret (``password is 'X'``) and the PII it holds. A common-word secret ("Book") only
  counts when the reply presents it (quoted, after "password is", alone, or obfuscated), so an
  answer that merely uses the word is not a leak.
* **prompt overlap**: word n-gram alignment between reply and prompt after case folding and
  punctuation removal, so re-wrapping, bullets, JSON quoting, markdown and quotes do not hide it.
  A leak is either most of the prompt (coverage) or, for longer prompts, one long *distinctive*
  contiguous chunk. Shared boilerplate ("a helpful assistant") and the prompt's domain words do not
  reach either bar, and for short prompts only a near-verbatim copy does, so a refusal that names
  the forbidden topic is not a leak.

The prompt side is compiled once into a :class:`PromptIndex` and cached by the prompt's text.
"""

from __future__ import annotations

import hashlib
import re
import secrets as _random
import time
from collections import OrderedDict
from dataclasses import dataclass

from poise.guard.normalize import normalize, rot13
from poise.guard.pii import find_entities
from poise.guard.types import DetectionContext, DetectorResult, Finding

__all__ = ["LeakDetector", "PromptIndex", "compile_prompt", "extract_secrets", "make_canary"]

_CANARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_CANARY_CORE = 20
_CANARY_PARTIAL = 12  # this many contiguous core characters already count as a leak
_TOKEN_RE = re.compile(r"[^\W_]+")
_ESCAPES_RE = re.compile(r"\\[nrt]|\\u[0-9a-fA-F]{4}")
_SKELETON_RE = re.compile(r"[\W_]+")
# Function words and assistant boilerplate: shared with a prompt, they prove nothing.
_STOPWORD_TEXT = (
    "a an the and or but if then so to of in on at by for with from as is are was were be been being "
    "it its this that these those you your yours i me my we our us he she his her they them their do "
    "does did not no nor don t s can could should would will shall may might must any all some such "
    "only also just very more most other about into over under than too up out what which who whom "
    "when where why how user users assistant assistants helpful help question questions answer "
    "answers please sorry always never have has had here there chatbot bot ai model respond response "
    "responses"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_SECRET_CUE_RE = re.compile(
    r"(?i)\b(?:password|passphrase|passcode|secret(?:\s+(?:key|word|code))?|key|code|pin|token)\b"
    r"[^\"'\n]{0,20}?[\"'‘“]([^\"'’”\n]{2,64})[\"'’”]"
)
_REVEAL_CUE = r"(?:password|passphrase|secret|key|code|word|pin|token)\W{0,3}(?:is|was|:|=|->)?\W{0,3}$"
_INDEX_CACHE_SIZE = 256


def make_canary(session_id: str | None = None) -> str:
    """A fresh random canary such as ``poise-7kq2m9x4tz8hc3rw6npv``; embed it in the system prompt.

    With ``session_id`` the first characters are derived from the session, so a canary found in a
    log can be traced back to its session; the rest is always random.
    """
    core = [_random.choice(_CANARY_ALPHABET) for _ in range(_CANARY_CORE)]
    if session_id is not None:
        digest = hashlib.blake2b(session_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        core[:4] = [_CANARY_ALPHABET[b % len(_CANARY_ALPHABET)] for b in digest[:4]]
    return "poise-" + "".join(core)


# ASCII fast paths (one C-level ``bytes.translate`` instead of a regex pass): letters and digits
# lowercased, everything else a space (tokens) or deleted (skeleton). casefold() is lower() there.
_ASCII_ALNUM = bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123))
_TOKEN_TABLE = bytes(
    (i | 0x20 if 65 <= i <= 90 else i) if i < 128 and bytes([i]) in _ASCII_ALNUM else 0x20 for i in range(256)
)
_SKELETON_DELETE = bytes(i for i in range(128) if bytes([i]) not in _ASCII_ALNUM)


def _tokens(text: str) -> list[str]:
    if text.isascii() and "\\" not in text:
        return text.encode("ascii").translate(_TOKEN_TABLE).decode("ascii").split()
    return _TOKEN_RE.findall(_ESCAPES_RE.sub(" ", text).casefold())


def _skeleton(text: str) -> str:
    if text.isascii():
        return text.encode("ascii").translate(_TOKEN_TABLE, _SKELETON_DELETE).decode("ascii")
    return _SKELETON_RE.sub("", text.casefold())


def extract_secrets(system_prompt: str) -> tuple[str, ...]:
    """Values a prompt marks as secret (``The password is "Mouse"``) and the PII it contains."""
    found = [m.group(1).strip() for m in _SECRET_CUE_RE.finditer(system_prompt)]
    found += [e.text for e in find_entities(system_prompt) if e.type not in ("ADDRESS", "IPV4")]
    return tuple(dict.fromkeys(s for s in found if len(s) >= 2))


@dataclass(frozen=True)
class PromptIndex:
    """A system prompt compiled for fast overlap checks: tokens, trigram positions, secrets."""

    digest: str
    tokens: tuple[str, ...]
    content: tuple[bool, ...]
    trigrams: dict[tuple[str, str, str], tuple[int, ...]]
    secrets: tuple[str, ...]
    skeleton: str = ""
    """The prompt's letters and digits only: catches copies whatever the spacing or punctuation."""
    vocab: frozenset[str] = frozenset()
    """The prompt's distinct tokens: a reply position can seed a match only if three are in it."""


# Keyed by the prompt text itself: a route's compiled prompt is one long-lived string whose hash
# Python keeps, so a hit costs a dict lookup instead of hashing a few kB again on every reply.
_CACHE: OrderedDict[tuple[str, tuple[str, ...]], PromptIndex] = OrderedDict()


def compile_prompt(system_prompt: str, secrets: tuple[str, ...] = ()) -> PromptIndex:
    """Compile (or fetch from the cache of the last few hundred prompts) the index of ``system_prompt``."""
    key = (system_prompt, secrets)
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    digest = hashlib.blake2b(system_prompt.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    toks = tuple(_tokens(system_prompt))
    grams: dict[tuple[str, str, str], list[int]] = {}
    for i in range(len(toks) - 2):
        grams.setdefault((toks[i], toks[i + 1], toks[i + 2]), []).append(i)
    index = PromptIndex(
        digest=digest,
        tokens=toks,
        content=tuple(t not in _STOPWORDS for t in toks),
        trigrams={k: tuple(v[:16]) for k, v in grams.items()},
        secrets=tuple(dict.fromkeys((*secrets, *extract_secrets(system_prompt)))),
        skeleton=_skeleton(system_prompt),
        vocab=frozenset(toks),
    )
    _CACHE[key] = index
    if len(_CACHE) > _INDEX_CACHE_SIZE:
        _CACHE.popitem(last=False)
    return index


_SEED = b"\x01\x01\x01"


@dataclass(frozen=True)
class Overlap:
    """How much of the prompt a text reproduces."""

    coverage: float
    longest: int
    longest_content: int


def overlap(index: PromptIndex, text: str) -> Overlap:
    """Align ``text`` against the prompt with trigram seeds extended greedily (linear in practice)."""
    out = _tokens(text)
    toks, n = index.tokens, len(index.tokens)
    covered = bytearray(n)
    longest = longest_content = 0
    # Only where three prompt words follow each other can a trigram seed; find those in C.
    known = bytes(map(index.vocab.__contains__, out))
    i = known.find(_SEED)
    while 0 <= i < len(out) - 2:
        positions = index.trigrams.get((out[i], out[i + 1], out[i + 2]))
        if positions is None:
            i = known.find(_SEED, i + 1)
            continue
        best, best_p = 0, 0
        for p in positions:
            k = 3
            while i + k < len(out) and p + k < n and out[i + k] == toks[p + k]:
                k += 1
            if k > best:
                best, best_p = k, p
        covered[best_p : best_p + best] = b"\x01" * best
        content = sum(index.content[best_p : best_p + best])
        if (content, best) > (longest_content, longest):
            longest, longest_content = best, content
        i = known.find(_SEED, i + best)
    return Overlap(sum(covered) / n if n else 0.0, longest, longest_content)


def _overlap_leak(index: PromptIndex, ov: Overlap) -> bool:
    n = len(index.tokens)
    if n < 3:
        return False
    threshold = 0.5 if n >= 30 else 0.6 if n >= 15 else 0.85
    if ov.coverage >= threshold:
        return True
    # A distinctive chunk: long in absolute terms, or fairly long and part of a longer prompt.
    return (ov.longest >= 10 and ov.longest_content >= 5) or (
        n >= 24 and ov.longest >= 8 and ov.longest_content >= 4
    )


def _forms(text: str) -> list[tuple[str, str]]:
    """(label, text) for the reply, its normalized form, variants and decoded segments.

    A form identical to an earlier one is left out: checking the same string twice finds nothing
    new (plain ASCII prose normalizes to itself).
    """
    norm = normalize(text)
    forms = [("plain", text), ("normalized", norm.text)]
    forms += [("variant", v) for v in norm.variants]
    forms += [(f"decoded:{d.encoding}", d.text) for d in norm.decoded]
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for label, form in forms:
        if form not in seen:
            seen.add(form)
            unique.append((label, form))
    return unique


def _common_word(secret: str) -> bool:
    return secret.isalpha() and len(secret) < 8 and " " not in secret


def _secret_hit(secret: str, forms: list[tuple[str, str]]) -> tuple[float, str] | None:
    low = secret.casefold()
    needles = {"as written": low, "reversed": low[::-1], "rot13": rot13(low)}
    plain = forms[0][1].casefold()
    best: tuple[float, str] | None = None
    for label, form in forms:
        hay = form.casefold()
        for how, needle in needles.items():
            if not needle or (needle in _STOPWORDS and how != "as written") or needle not in hay:
                continue
            for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", hay):
                # Hidden only if it took decoding to see it (it is not there in the plain reply).
                hidden = how != "as written" or (label != "plain" and needle not in plain)
                presented = (
                    hidden
                    or not _common_word(secret)
                    or re.search(_REVEAL_CUE, hay[max(0, m.start() - 24) : m.start()]) is not None
                    or hay[max(0, m.start() - 1) : m.start()] in ("'", '"', "*", "`", "‘", "“")
                    or len(_tokens(form)) <= 6
                )
                score = 0.95 if presented else 0.4
                if best is None or score > best[0]:
                    best = (score, f"secret {how} in {label} text")
        # Spread out with digits or symbols ("G a m m a 7 8 9"): compare letters and digits only.
        skel = _skeleton(secret)
        if (
            (best is None or best[0] < 0.95)
            and not _common_word(secret)
            and len(skel) >= 6
            and (skel in _skeleton(form))
        ):
            best = (0.95, f"secret spread out in {label} text")
    return best


def _canary_hit(canary: str, forms: list[tuple[str, str]]) -> str | None:
    core = _skeleton(canary.removeprefix("poise-"))
    if len(core) < 8:
        return None
    size = min(_CANARY_PARTIAL, len(core))
    pieces = {core[i : i + size] for i in range(len(core) - size + 1)}
    for label, form in forms:
        skel = _skeleton(form)
        for how, hay in (
            ("as written", skel),
            ("reversed", skel[::-1]),
            ("rot13", rot13(skel)),
        ):
            if any(p in hay for p in pieces):
                return f"canary {how} in {label} text"
    return None


class LeakDetector:
    """A :class:`~poise.guard.types.Detector` for system-prompt, secret and canary leaks.

    Uses ``context.system_prompt``, ``context.secrets`` and ``context.canary``; with none of them
    there is nothing to leak and the result is never flagged.
    """

    name = "leak"

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        """Check a model reply for leaks of what ``context`` names."""
        started = time.perf_counter()
        findings: list[Finding] = []
        if context is not None and text and (context.system_prompt or context.secrets or context.canary):
            forms = _forms(text)
            if context.canary and (why := _canary_hit(context.canary, forms)):
                findings.append(Finding("canary", 1.0, reason=why))
            index = compile_prompt(context.system_prompt or "", tuple(context.secrets))
            for secret in index.secrets:
                hit = _secret_hit(secret, forms)
                if hit is not None:
                    findings.append(Finding("secret", hit[0], reason=hit[1]))
                    break
            if context.system_prompt:
                findings.extend(self._prompt_findings(index, forms))
        score = max((f.score for f in findings), default=0.0)
        return DetectorResult(
            detector=self.name,
            flagged=score >= self.threshold,
            score=score,
            findings=tuple(findings),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    @staticmethod
    def _prompt_findings(index: PromptIndex, forms: list[tuple[str, str]]) -> list[Finding]:
        seen: set[str] = set()
        normalized = next((f for label, f in forms if label == "normalized"), forms[0][1])
        candidates = [*forms, ("reversed", normalized[::-1])]
        for label, form in candidates:
            if form in seen:
                continue
            seen.add(form)
            if len(index.skeleton) >= 16 and index.skeleton in _skeleton(form):
                return [
                    Finding(
                        "system_prompt", 1.0, reason=f"the whole system prompt, re-spaced, in {label} text"
                    )
                ]
            ov = overlap(index, form)
            if _overlap_leak(index, ov):
                reason = (
                    f"{ov.coverage:.0%} of the system prompt reproduced in {label} text "
                    f"(longest run {ov.longest} words)"
                )
                return [Finding("system_prompt", min(1.0, 0.6 + ov.coverage / 2), reason=reason)]
        return []
