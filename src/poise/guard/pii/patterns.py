"""Pattern recognizers: e-mail, IBAN, IP addresses, API keys and secrets, street addresses.

Every regex here is written to run in linear time on hostile input: a negative look-behind pins
each match to the start of a token (so a megabyte of ``aaaa`` is tried once, not at every
position), repetitions are possessive or bounded, and alternatives never overlap. A regex only
proposes; checksums and context in :mod:`poise.guard.pii.checks` decide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from poise.guard.normalize import ignorecase_fold
from poise.guard.pii.checks import IBAN_LENGTHS, iban_valid, ipv6_valid, shannon_entropy
from poise.guard.pii.entity import PIIEntity

__all__ = ["RECOGNIZERS", "has_digit"]

# Most recognizers need a digit (``\d``: any Unicode decimal digit). ASCII text is checked with one
# ``bytes.translate`` and a byte search; other text with the regex itself.
_DIGIT_SHAPE = bytes(ord("0") if 0x30 <= i <= 0x39 else ord("x") for i in range(256))
_DIGIT_RE = re.compile(r"\d")


def has_digit(text: str) -> bool:
    """Whether ``text`` contains a decimal digit (what ``\\d`` matches)."""
    if text.isascii():
        return b"0" in text.encode("ascii").translate(_DIGIT_SHAPE)
    return _DIGIT_RE.search(text) is not None


_EMAIL_RE = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}+(?![\w\-])"
)
_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})((?:[ \-]?[A-Z0-9]){10,30}+)")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE = re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?![\w]|\.\d)")
_IPV6_RE = re.compile(r"(?<![\w:.])[0-9A-Fa-f:]{2,39}+(?:\.\d{1,3}){0,3}+(?![\w:])")
_VERSION_WORDS = re.compile(r"(?i)\b(?:v|version|ver\.?|release|build|firmware|oid)\s*$")

_AWS_PREFIXES = (
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "AGPA",
    "AIDA",
    "AIPA",
    "ANPA",
    "ANVA",
    "APKA",
    "AROA",
    "ASCA",
)
# Each pattern runs only when one of its literal markers is in the text (a fast substring test),
# so ordinary chat text pays almost nothing for the dozen key formats.
_KEY_PATTERNS: tuple[tuple[str, str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("PRIVATE_KEY", "PEM private key block", ("PRIVATE KEY",), re.compile(
        r"-----BEGIN (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[A-Za-z0-9+/=\s:,]|-(?!----)){0,16384}+"
        r"(?:-----END (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?-----)?")),
    ("API_KEY", "Anthropic API key", ("sk-ant-",), re.compile(
        r"(?<![\w-])sk-ant-[a-z]{2,8}\d{0,3}-[A-Za-z0-9_\-]{20,200}+")),
    ("API_KEY", "OpenAI API key", ("sk-",), re.compile(
        r"(?<![\w-])sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,200}+(?![\w-])")),
    ("API_KEY", "AWS access key id", _AWS_PREFIXES, re.compile(
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}(?![A-Za-z0-9])")),
    ("API_KEY", "GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), re.compile(
        r"(?<![\w])(?:gh[pousr]_[A-Za-z0-9]{36,251}+|github_pat_[A-Za-z0-9_]{22,255}+)(?![\w])")),
    ("API_KEY", "Slack token", ("xox",), re.compile(r"(?<![\w])xox[abposre]-[A-Za-z0-9\-]{10,200}+")),
    ("API_KEY", "Slack webhook", ("hooks.slack.com",), re.compile(
        r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{16,32}")),
    ("API_KEY", "Stripe key", ("_live_", "_test_", "whsec_"), re.compile(
        r"(?<![\w])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,200}+|(?<![\w])whsec_[A-Za-z0-9]{24,64}+")),
    ("API_KEY", "Google API key", ("AIza",), re.compile(r"(?<![\w\-])AIza[0-9A-Za-z_\-]{35}(?![\w\-])")),
    ("JWT", "JSON Web Token", ("eyJ",), re.compile(
        r"(?<![\w\-])eyJ[A-Za-z0-9_\-]{5,4096}+\.eyJ[A-Za-z0-9_\-]{5,8192}+\.[A-Za-z0-9_\-]{10,4096}+")),
)  # fmt: skip

_ASSIGN_RE = re.compile(
    r"(?i)(?<![\w])(?:password|passwd|passphrase|pwd|pass|secret|secret[_\-]?key|api[_\-]?key|apikey"
    r"|access[_\-]?token|auth[_\-]?token|token|client[_\-]?secret|private[_\-]?key|aws_secret_access_key"
    r"|db_password|mot de passe|passwort|contraseña|senha)[\"']?\s{0,3}(?:[:=]|=>|:=)\s{0,3}[\"']?"
    r"([^\s\"'`,;<>{}()\[\]]{8,200}+)"
)

# Every keyword of _ASSIGN_RE contains one of these (compared on the IGNORECASE fold).
_ASSIGN_STEMS = ("pass", "pwd", "secret", "key", "token", "contrase", "senha")


def _may_assign(text: str) -> bool:
    if "=" not in text and ":" not in text:
        return False
    folded = ignorecase_fold(text)
    return any(stem in folded for stem in _ASSIGN_STEMS)


_NOT_A_VALUE = ("${", "$(", "%(", "{{", "<", "process.env", "os.environ")
_DUMMY = ("xxx", "your", "example", "changeme", "placeholder", "redacted")

_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter"
    r"|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq"
)
_ADDRESS_RES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("US/UK street address", re.compile(
        rf"(?<![\w.,\-])\d{{1,6}}[A-Za-z]?\s(?:[NSEW]\.?\s|North\s|South\s|East\s|West\s)?"
        rf"(?:[A-Z][a-z]+\s|\d{{1,3}}(?:st|nd|rd|th)\s){{1,3}}(?:{_STREET_TYPES})\b\.?(?:\s(?:NW|NE|SW|SE)\b)?"
        r"(?:,?\s(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor)\.?\s?#?\w{1,6})?"
        r"(?:,\s[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2}+,\s[A-Z]{2}\s\d{5}(?:-\d{4})?)?")),
    ("German street address", re.compile(
        r"(?<![\w])[A-ZÄÖÜ][a-zäöüß]{2,30}(?:-[A-ZÄÖÜ]?[a-zäöüß]{2,20})?"
        r"(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer)\s\d{1,4}[a-z]?(?![\w])"
        r"(?:,\s\d{5}\s[A-ZÄÖÜ][a-zäöüß]+)?")),
    ("French street address", re.compile(
        r"(?<![\w])\d{1,4}(?:\s?(?:bis|ter))?,?\s(?:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai"
        r"|calle|avenida|via|viale|piazza)\s(?:(?:de|du|des|la|le|les|del|della|di)\s|[ld]'){0,2}+"
        r"[A-ZÉÈÀ][\w'\-]{1,30}+(?:\s[A-ZÉÈÀ][\w'\-]{1,30}+){0,3}+")),
)  # fmt: skip


def _emails(text: str) -> Iterator[PIIEntity]:
    if "@" not in text:
        return
    for m in _EMAIL_RE.finditer(text):
        yield PIIEntity("EMAIL", m.start(), m.end(), m.group(), 0.99, "e-mail address")


def _ibans(text: str) -> Iterator[PIIEntity]:
    if not has_digit(text):
        return
    for m in _IBAN_RE.finditer(text):
        country = m.group(1)
        length = IBAN_LENGTHS.get(country)
        if length is None:
            continue
        # Take exactly the country's length of characters, so a following word is not swallowed.
        need, pos, end = length - 4, m.start(3), m.start(3)
        body: list[str] = []
        while need and pos < m.end():
            if text[pos].isalnum():
                body.append(text[pos])
                need -= 1
                end = pos + 1
            pos += 1
        if need or (end < len(text) and text[end].isalnum()):
            continue
        if iban_valid(country + m.group(2) + "".join(body)):
            yield PIIEntity(
                "IBAN", m.start(), end, text[m.start() : end], 0.99, f"{country} IBAN, mod-97 valid"
            )


def _ips(text: str) -> Iterator[PIIEntity]:
    if "." in text and has_digit(text):
        for m in _IPV4_RE.finditer(text):
            if _VERSION_WORDS.search(text[max(0, m.start() - 12) : m.start()]):
                continue
            yield PIIEntity("IPV4", m.start(), m.end(), m.group(), 0.9, "IPv4 address")
    if "::" in text or text.count(":") >= 4:
        for m in _IPV6_RE.finditer(text):
            if ipv6_valid(m.group()):
                yield PIIEntity("IPV6", m.start(), m.end(), m.group(), 0.9, "IPv6 address")


_MARKERS = tuple(dict.fromkeys(m for _, _, markers, _ in _KEY_PATTERNS for m in markers))


def _keys(text: str) -> Iterator[PIIEntity]:
    present = {m for m in _MARKERS if m in text}
    for type_, reason, markers, pattern in _KEY_PATTERNS if present else ():
        if present.isdisjoint(markers):
            continue
        for m in pattern.finditer(text):
            yield PIIEntity(type_, m.start(), m.end(), m.group(), 0.99, reason)
    if not _may_assign(text):
        return
    for m in _ASSIGN_RE.finditer(text):
        value = m.group(1)
        if value.startswith(_NOT_A_VALUE) or value.lower().startswith(_DUMMY) or not value.strip("*x."):
            continue
        classes = sum(
            (any(c.islower() for c in value), any(c.isupper() for c in value),
             any(c.isdigit() for c in value), any(not c.isalnum() for c in value))
        )  # fmt: skip
        if shannon_entropy(value) >= 3.0 and classes >= 2:
            yield PIIEntity(
                "SECRET", m.start(1), m.end(1), value, 0.85, "high-entropy value of a secret assignment"
            )


def _addresses(text: str) -> Iterator[PIIEntity]:
    if not has_digit(text):  # every address form carries a house number
        return
    for reason, pattern in _ADDRESS_RES:
        for m in pattern.finditer(text):
            value = m.group().rstrip(".,")
            yield PIIEntity("ADDRESS", m.start(), m.start() + len(value), value, 0.75, reason)


RECOGNIZERS: tuple[Callable[[str], Iterator[PIIEntity]], ...] = (_emails, _ibans, _ips, _keys, _addresses)
"""Pattern recognizers, each a function from text to entities (overlaps are resolved later)."""
