"""Normalize and de-obfuscate text before any detector looks at it.

Attackers hide the words a detector looks for: zero-width characters inside "ig\u200bnore",
Cyrillic look-alikes ("іgnоrе"), fullwidth or mathematical letters, spaced-out letters
("i g n o r e"), leetspeak ("1gn0r3"), or a whole payload in base64, hex, ROT13 or percent-encoding.
:func:`normalize` undoes all of this once, so every detector downstream matches plain text:

* ``text``: Unicode NFKC, invisible/bidi/control characters and lone surrogates removed, Unicode
  tag characters decoded, homoglyphs mapped to ASCII in Latin-looking words, spaced letters
  collapsed. It keeps case, so detectors can still see shouting or fake ``SYSTEM:`` tags.
* ``variants``: forms that are not safe to apply destructively (the de-leeted text).
* ``decoded``: encoded segments found in the text, decoded and themselves normalized, recursively
  (bounded depth, count and size), so the caller scans them again.

Positions in the normalized text map back to the original through :meth:`NormalizedText.to_original`,
so findings can always point at the characters the user actually sent. Every regex here is linear
(no nested quantifiers over overlapping classes) and the whole pass is O(n) in the input length.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from re import _casefix  # type: ignore[attr-defined]  # CPython >= 3.11: IGNORECASE's extra letter pairs
from urllib.parse import unquote

__all__ = [
    "MAX_DECODED_CHARS",
    "MAX_DEPTH",
    "DecodedSegment",
    "NormalizedText",
    "ignorecase_fold",
    "normalize",
    "rot13",
    "word_tokens",
]

MAX_DEPTH = 3
"""How many layers of encoding are peeled (base64 inside hex inside base64 ...)."""
MAX_DECODED_CHARS = 65_536
"""Budget of decoded characters per call, across all segments and depths."""
MAX_SEGMENTS = 32
"""Most decoded segments reported per call."""
_MAX_SEGMENT_CHARS = 131_072  # an encoded run longer than this is decoded from its start only

# Characters with no visible glyph that are used to split keywords: zero-width space/joiners,
# bidi marks, embeddings, overrides and isolates, word joiner, invisible operators, BOM, soft hyphen,
# Mongolian vowel separator, Hangul fillers and variation selectors.
_INVISIBLE = frozenset(
    [
        0x00AD,
        0x034F,
        0x061C,
        0x115F,
        0x1160,
        0x17B4,
        0x17B5,
        0x180E,
        0x3164,
        0xFEFF,
        0xFFA0,
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
        *range(0xFE00, 0xFE10),
        *range(0xE0100, 0xE01F0),
    ]
)
_TAG_START, _TAG_END = 0xE0000, 0xE007F

# Look-alikes that NFKC leaves alone: Cyrillic, Greek and a few Latin extensions.
_HOMOGLYPHS: dict[str, str] = {
    **dict(zip("аеорсухіјѕԁԛԝһкмтвнпӏ", "aeopcyxijsdqwhkmtbhnl", strict=True)),
    **dict(zip("АВЕКМНОРСТХІЈЅУ", "ABEKMHOPCTXIJSY", strict=True)),
    **dict(zip("αβεικνορτυχϲϳ", "aBeiknoptuxcj", strict=True)),
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True)),
    **dict(zip("ɑɡɩɪʟʀꜱᴀᴄᴅᴇɢʜᴊᴋᴍɴᴏᴘʀᴛᴜᴠᴡʏᴢ", "agiilrsacdeghjkmnoprtuvwyz", strict=True)),
}
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})

_WORD_RE = re.compile(r"\w+")
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LETTER_RUN_NONASCII = re.compile(r"[^\x00-\x7f]")
# A run of >= 4 single letters joined by one separator ("i g n o r e", "i-g-n-o-r-e"), where a
# double space marks a word gap ("i g n o r e  a l l"). Classes are disjoint: linear time.
_SPACED_RE = re.compile(r"(?<![^\W\d_])[^\W\d_](?:(?:[ ._*\-/]| {2,3})[^\W\d_]){3,}(?![^\W\d_])")
_LEET_WORD_RE = re.compile(
    r"(?<![\w@$])(?=[\w@$]{0,23}[A-Za-z])(?=[\w@$]{0,23}[013457@$])[\w@$]{3,24}(?![\w@$])"
)
# ASCII letters -> "a", the spaced-letter separators -> " ", anything else -> "|".
_SPACED_SHAPE = bytes(
    ord("a") if chr(i).isascii() and chr(i).isalpha() else ord(" ") if chr(i) in " ._*-/" else ord("|")
    for i in range(256)
)
_SPACED_PROBES = (b" a a ", b" a  a ", b" a   a ")
_LEET_CHAR_RE = re.compile(r"[013457@$]")
_B64_RE = re.compile(r"[A-Za-z0-9+/_\-]{16,}={0,2}")
_HEX_RE = re.compile(r"(?:(?:\\x|0x)?[0-9A-Fa-f]{2}[ :]?){8,}")
_URL_RE = re.compile(r"%[0-9A-Fa-f]{2}(?:[^\s%]{0,32}%[0-9A-Fa-f]{2}){2,}")
_ENTITY_RE = re.compile(r"(?:&#[xX]?[0-9A-Fa-f]{1,6};|&[A-Za-z]{2,8};){3,}")
_ROT_CANDIDATE_RE = re.compile(r"[A-Za-z][A-Za-z ,.'!?:-]{15,4000}")
_COMMON_WORDS = frozenset(
    [
        "the",
        "and",
        "you",
        "your",
        "all",
        "ignore",
        "previous",
        "instructions",
        "instruction",
        "prompt",
        "system",
        "say",
        "print",
        "reveal",
        "tell",
        "what",
        "are",
        "is",
        "to",
        "of",
        "a",
        "me",
        "now",
        "from",
        "this",
        "that",
        "with",
        "secret",
        "password",
        "rules",
        "forget",
        "disregard",
        "above",
        "before",
        "output",
        "show",
        "repeat",
    ]
)


@dataclass(frozen=True)
class DecodedSegment:
    """An encoded span of the original text and what it decodes to (already normalized)."""

    encoding: str
    """``base64``, ``hex``, ``rot13``, ``url`` or ``html_entities``."""
    start: int
    end: int
    text: str
    depth: int = 1


@dataclass(frozen=True)
class NormalizedText:
    """The result of :func:`normalize`: the original, its normalized form and what was decoded."""

    original: str
    text: str
    variants: tuple[str, ...] = ()
    decoded: tuple[DecodedSegment, ...] = ()
    transforms: tuple[str, ...] = ()
    offsets: tuple[int, ...] = field(default=(), repr=False, compare=False)
    """Original index of each character of ``text`` (empty when the two are identical)."""

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a ``[start, end)`` range of ``text`` (or of a variant) to the original text."""
        if not self.offsets:
            return max(0, min(start, len(self.original))), max(0, min(end, len(self.original)))
        n = len(self.offsets)
        if n == 0 or end <= start:
            return 0, 0
        start = max(0, min(start, n - 1))
        last = max(start, min(end, n) - 1)
        return self.offsets[start], min(len(self.original), self.offsets[last] + 1)

    @property
    def texts(self) -> tuple[str, ...]:
        """Every form worth scanning: the normalized text, its variants and the decoded segments."""
        return (self.text, *self.variants, *(d.text for d in self.decoded))


@lru_cache(maxsize=4096)
def _map_char(ch: str) -> str:
    """Normalize one non-ASCII character: drop it, decode a tag character, or NFKC it."""
    cp = ord(ch)
    if cp in _INVISIBLE:
        return ""
    if _TAG_START <= cp <= _TAG_END:
        return chr(cp - _TAG_START) if 0xE0020 <= cp <= 0xE007E else ""
    cat = unicodedata.category(ch)
    if cat in ("Cs", "Co", "Cn") or (cat == "Cc" and ch not in "\t\n\r"):
        return ""
    if cat == "Zs" or cp == 0x2800:
        return " "
    out = unicodedata.normalize("NFKC", ch)
    return "".join(c for c in out if ord(c) not in _INVISIBLE)


def _char_pass(text: str, transforms: list[str]) -> tuple[str, list[int] | None]:
    """NFKC, invisible-character and control stripping, char by char so offsets are kept."""
    if text.isascii() and not _ASCII_CONTROL_RE.search(text):
        return text, None
    pieces: list[str] = []
    index: list[int] = []
    changed: set[str] = set()
    for i, ch in enumerate(text):
        if ch < "\x7f" and (ch >= " " or ch in "\t\n\r"):
            pieces.append(ch)
            index.append(i)
            continue
        cp = ord(ch)
        out = _map_char(ch)
        if out != ch:
            if out == "":
                if 0xD800 <= cp <= 0xDFFF:
                    changed.add("surrogates")
                elif _TAG_START <= cp <= _TAG_END:
                    changed.add("unicode_tags")
                else:
                    changed.add("invisible")
            elif _TAG_START <= cp <= _TAG_END:
                changed.add("unicode_tags")
            else:
                changed.add("nfkc")
        for c in out:
            # Combining marks stacked on ASCII letters ("Zalgo" text) carry no meaning there.
            if unicodedata.category(c) == "Mn" and pieces and pieces[-1].isascii() and pieces[-1].isalpha():
                changed.add("combining")
                continue
            pieces.append(c)
            index.append(i)
    transforms.extend(sorted(changed))
    return "".join(pieces), index


def _homoglyph_pass(text: str, transforms: list[str]) -> str:
    """Map look-alike letters to ASCII in words that are meant to be read as Latin."""
    if text.isascii() or not _LETTER_RUN_NONASCII.search(text):
        return text
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    letters = sum(1 for c in text if c.isalpha())
    mostly_latin = letters > 0 and latin * 2 > letters
    out: list[str] = []
    last = 0
    changed = False
    for m in _WORD_RE.finditer(text):
        word = m.group()
        if word.isascii() or not any(c in _HOMOGLYPHS for c in word):
            continue
        has_latin = any(c.isascii() and c.isalpha() for c in word)
        all_confusable = all(c in _HOMOGLYPHS or not c.isalpha() for c in word)
        if has_latin or (all_confusable and mostly_latin):
            out.append(text[last : m.start()])
            out.append("".join(_HOMOGLYPHS.get(c, c) for c in word))
            last = m.end()
            changed = True
    if not changed:
        return text
    out.append(text[last:])
    transforms.append("homoglyph")
    return "".join(out)


def _collapse_pass(text: str, index: list[int] | None, transforms: list[str]) -> tuple[str, list[int] | None]:
    """Collapse spaced-out letters; a double space or a separator run marks a word gap."""
    if not _maybe_spaced(text):
        return text, index
    matches = list(_SPACED_RE.finditer(text))
    if not matches:
        return text, index
    base = index if index is not None else list(range(len(text)))
    pieces: list[str] = []
    new_index: list[int] = []
    last = 0
    for m in matches:
        pieces.append(text[last : m.start()])
        new_index.extend(base[last : m.start()])
        segment = m.group()
        for j, c in enumerate(segment):
            if c.isalpha():
                pieces.append(c)
                new_index.append(base[m.start() + j])
            elif c == " " and segment[j - 1] == " " and (j + 1 >= len(segment) or segment[j + 1] != " "):
                pieces.append(" ")
                new_index.append(base[m.start() + j])
        last = m.end()
    pieces.append(text[last:])
    new_index.extend(base[last:])
    transforms.append("spaced_letters")
    return "".join(pieces), new_index


def _maybe_spaced(text: str) -> bool:
    """Necessary for a spaced run: its 2nd and 3rd letters are single letters between separators."""
    if not text.isascii():
        return True
    shape = text.encode("ascii").translate(_SPACED_SHAPE)
    return any(probe in shape for probe in _SPACED_PROBES)


def _deleet(text: str) -> str:
    """Undo leetspeak in words that mix letters with leet digits/symbols ("1gn0r3" -> "ignore")."""
    if _LEET_CHAR_RE.search(text) is None:
        return text
    return _LEET_WORD_RE.sub(lambda m: m.group().translate(_LEET), text)


def _printable_ratio(s: str) -> float:
    if not s:
        return 0.0
    good = sum(1 for c in s if c.isprintable() or c in "\n\r\t")
    return good / len(s)


def _plausible(decoded: str) -> bool:
    """Decoded bytes count as text when they are printable and contain some letters."""
    letters = sum(1 for c in decoded if c.isalpha())
    alnum = sum(1 for c in decoded if c.isalnum())
    return (
        len(decoded) >= 4 and _printable_ratio(decoded) >= 0.9 and letters >= 3 and alnum * 2 >= len(decoded)
    )


def _bytes_to_text(raw: bytes) -> str | None:
    try:
        out = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return out if _plausible(out) else None


def _try_base64(seg: str) -> str | None:
    seg = seg[:_MAX_SEGMENT_CHARS]
    if seg.isalpha() and (seg.islower() or seg.isupper()):
        return None  # a long plain word, not base64
    core = seg.rstrip("=")
    padded = core + "=" * (-len(core) % 4)
    try:
        altchars = b"-_" if ("-" in core or "_" in core) else None
        raw = base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _bytes_to_text(raw)


def _try_hex(seg: str) -> str | None:
    seg = seg[:_MAX_SEGMENT_CHARS]
    digits = re.sub(r"\\x|0x|[ :]", "", seg)
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        return None
    return _bytes_to_text(raw)


_ROT13 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm",
)


def rot13(text: str) -> str:
    """``codecs.encode(text, "rot13")`` (its own inverse) as one ``str.translate``, without the
    codec machinery's per-call lookup and per-character Python loop."""
    return text.translate(_ROT13)


def _rot13_score(s: str) -> int:
    return sum(1 for w in re.findall(r"[a-z]+", s.lower()) if w in _COMMON_WORDS)


# Cheap gates: each encoded form needs characters that plain prose rarely has, so a text that
# lacks them skips that decoder's regex. ASCII texts are classified with one ``bytes.translate``
# (a C table lookup, ~1 us per 3 kB) and substring searches; every gate is a necessary
# condition of its regex (tests/guard/test_normalize.py checks each against the regex it guards).
_B64_SHAPE = bytes(
    ord("b") if chr(i).isascii() and (chr(i).isalnum() or chr(i) in "+/_-") else ord(" ") for i in range(256)
)
_B64_RUN = b"b" * 16
_ASCII_DIGIT_RE = re.compile(r"[0-9]")
_ROT_LETTERS = bytes(
    i if chr(i).islower() and chr(i).isascii() else i + 32 if "A" <= chr(i) <= "Z" else ord(" ")
    for i in range(256)
)
_ROT_COMMON = frozenset(rot13(w) for w in _COMMON_WORDS)
_ROT_GATE_MAX = 4001  # longer letter runs are cut into several candidates, so the gate stops holding


def _rot13_possible(text: str) -> bool:
    """Whether some ROT13 candidate of ``text`` could decode to >= 3 common words."""
    if not text.isascii() or len(text) > _ROT_GATE_MAX:
        return True
    words = text.encode("ascii").translate(_ROT_LETTERS).split()
    return sum(map(_ROT_COMMON_B.__contains__, words)) >= 3


_ROT_COMMON_B = frozenset(w.encode("ascii") for w in _ROT_COMMON)


def _maybe_hex(text: str) -> bool:
    # A hex run with no digit at all spells only bytes 0xAA-0xFF: never ASCII, so never a payload a
    # rule or the classifier could read (at most a few Hangul syllables); skip the regex then.
    return _ASCII_DIGIT_RE.search(text) is not None


def _maybe_base64(text: str) -> bool:
    if not text.isascii():
        return True
    return _B64_RUN in text.encode("ascii").translate(_B64_SHAPE)


def _find_encoded(text: str) -> list[tuple[str, int, int, str]]:
    """Encoded segments of ``text`` as ``(encoding, start, end, decoded)`` in ``text`` positions."""
    found: list[tuple[str, int, int, str]] = []
    if _maybe_hex(text):
        for m in _HEX_RE.finditer(text):
            out = _try_hex(m.group())
            if out is not None:
                found.append(("hex", m.start(), m.end(), out))
    hex_spans = [(s, e) for _, s, e, _ in found]
    if _maybe_base64(text):
        for m in _B64_RE.finditer(text):
            if any(s <= m.start() < e for s, e in hex_spans):
                continue
            out = _try_base64(m.group())
            if out is not None:
                found.append(("base64", m.start(), m.end(), out))
    if "%" in text:
        for m in _URL_RE.finditer(text):
            out = unquote(m.group(), errors="strict") if "%" in m.group() else m.group()
            if out != m.group() and _printable_ratio(out) >= 0.9:
                found.append(("url", m.start(), m.end(), out))
    if "&" in text:
        for m in _ENTITY_RE.finditer(text):
            out = html.unescape(m.group())
            if out != m.group():
                found.append(("html_entities", m.start(), m.end(), out))
    if _rot13_possible(text):
        for m in _ROT_CANDIDATE_RE.finditer(text):
            seg = m.group()
            rotated = rot13(seg)
            score = _rot13_score(rotated)
            if score >= 3 and score > 2 * _rot13_score(seg):
                found.append(("rot13", m.start(), m.end(), rotated))
    return found


def _normalize_core(text: str, transforms: list[str]) -> tuple[str, list[int] | None]:
    out, index = _char_pass(text, transforms)
    out = _homoglyph_pass(out, transforms)
    return _collapse_pass(out, index, transforms)


def normalize(
    text: str, *, max_depth: int = MAX_DEPTH, max_decoded_chars: int = MAX_DECODED_CHARS
) -> NormalizedText:
    """Normalize ``text`` and decode the encoded segments it carries.

    Never raises for any ``str`` (lone surrogates, control characters, megabytes of repetition).

    Args:
        text: the raw text as the user, document or tool sent it.
        max_depth: layers of nested encodings to peel.
        max_decoded_chars: budget of decoded characters across all segments.

    Returns:
        A :class:`NormalizedText`; ``text`` is the normalized form, ``decoded`` the decoded segments
        (each normalized too) with their positions in the original.
    """
    if not isinstance(text, str):
        text = str(text)
    transforms: list[str] = []
    norm, index = _normalize_core(text, transforms)
    offsets = tuple(index) if index is not None else ()
    result = NormalizedText(original=text, text=norm, transforms=(), offsets=offsets)
    variants: list[str] = []
    leet = _deleet(norm)
    if leet != norm:
        variants.append(leet)
        transforms.append("leetspeak")
    decoded: list[DecodedSegment] = []
    budget = [max_decoded_chars]
    _decode_into(result, norm, (0, len(text)), 1, max_depth, decoded, budget, top=True)
    for enc in dict.fromkeys(d.encoding for d in decoded):
        transforms.append(f"decoded:{enc}")
    return NormalizedText(
        original=text,
        text=norm,
        variants=tuple(variants),
        decoded=tuple(decoded),
        transforms=tuple(dict.fromkeys(transforms)),
        offsets=offsets,
    )


def _decode_into(
    root: NormalizedText,
    text: str,
    outer: tuple[int, int],
    depth: int,
    max_depth: int,
    decoded: list[DecodedSegment],
    budget: list[int],
    *,
    top: bool,
) -> None:
    """Find encoded segments of ``text``, record them and recurse into what they decode to."""
    if depth > max_depth:
        return
    for encoding, s, e, out in _find_encoded(text):
        if len(decoded) >= MAX_SEGMENTS or budget[0] <= 0:
            return
        out = out[: budget[0]]
        budget[0] -= len(out)
        inner, _ = _normalize_core(out, [])
        start, end = root.to_original(s, e) if top else outer
        decoded.append(DecodedSegment(encoding=encoding, start=start, end=end, text=inner, depth=depth))
        _decode_into(root, inner, (start, end), depth + 1, max_depth, decoded, budget, top=False)


# --- folding for keyword gates ---------------------------------------------------------------------
# ``re.IGNORECASE`` compares simple lowercase forms and treats a few extra letters as equal
# (``re._casefix``: dotless i, long s, Greek symbol variants, old Cyrillic forms). ``ignorecase_fold`` maps
# those to one representative after ``str.lower()``, and U+0130 (whose full lowercase is two
# characters) to "i", so a keyword the regex would find is always a substring/token of the fold.


def _representative(cp: int, others: tuple[int, ...]) -> str:
    # Only between characters of the same kind: mapping a combining mark to a letter would glue
    # two tokens together and hide a keyword from the gate.
    return chr(min(c for c in (cp, *others) if chr(c).isalnum() == chr(cp).isalnum()))


_CASE_EXTRA: dict[str, str] = {
    chr(cp): _representative(cp, others)
    for cp, others in _casefix._EXTRA_CASES.items()
    if _representative(cp, others) != chr(cp)
}
_FOLD_TABLE = str.maketrans({"İ": "i", **_CASE_EXTRA})
# ASCII word characters lowercased, everything else a space: ``split()`` then yields exactly the
# ``\w+`` tokens of an ASCII text, at C speed.
_ASCII_TOKENS = (
    bytes(
        (i | 0x20 if chr(i).isalpha() else i) if chr(i).isalnum() or chr(i) == "_" else 0x20
        for i in range(128)
    )
    + b" " * 128
)


def ignorecase_fold(text: str) -> str:
    """Lowercase ``text`` the way ``re.IGNORECASE`` compares letters (see ``_CASE_EXTRA``)."""
    if text.isascii():
        return text.lower()
    return text.translate(_FOLD_TABLE).lower().translate(_FOLD_TABLE)


def word_tokens(folded: str) -> frozenset[str]:
    """The ``\\w+`` tokens of a folded text."""
    if folded.isascii():
        return frozenset(folded.encode("ascii").translate(_ASCII_TOKENS).decode("ascii").split())
    return frozenset(_WORD_RE.findall(folded))
