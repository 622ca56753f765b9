"""Classify runs of digits: payment card, US SSN, phone number, or nothing.

One linear regex finds every run of digit groups joined by short separators (``4111 1111 ...``,
``+44 (0)20 7946-0958``, ``123-45-6789``); each run is then judged as a whole by its shape,
checksums and the words just before it. The words matter for phones: ``Call 020 7946 0958`` is a
phone, ``Order 020 7946 0958`` is an order id. A ``+`` prefix is strong evidence on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from poise.guard.pii.checks import card_brand, isbn_valid, luhn_valid, ssn_valid
from poise.guard.pii.entity import PIIEntity
from poise.guard.pii.patterns import has_digit

__all__ = ["scan_numbers"]

# Possessive/atomic: no backtracking at all, so the scan is linear even on "1-1-1-1-...".
_RUN_RE = re.compile(
    r"(?<![\w+\-./,#])(?:\+|00(?=\d))?\(?\d++(?:(?:[ \-.\u00a0]|\)[ \-]?|[ \-]?\(){1,2}+\d++)*+(?![\w/:])"
    r"(?![.,]\d)"
)

_PHONE_WORDS = re.compile(
    r"(?i)(?:\b(?:tel|tél|phone|telephone|call|mobile|mob|cell|fax|whatsapp|sms|text|ring|reach|dial"
    r"|contact|hotline|telefon|téléphone|teléfono|telefono|telefone|handy|numéro|número|portable"
    r"|móvil|cellulare|appelez|llama|ruf|anrufen|tlf|電話)\b|☎|📞)"
)
_ID_WORDS = re.compile(
    r"(?i)\b(?:order|invoice|tracking|track|ref|reference|id|isbn|sku|serial|ticket|case|po|booking"
    r"|confirmation|parcel|shipment|package|transaction|txn|policy|account|acct|customer|member"
    r"|bestellung|bestellnummer|commande|pedido|rechnung|facture|factura|sendung|colis|item|part"
    r"|model|build|version|no|nr|n°|isin|ean|upc|batch|lot|receipt|claim|iban|bic|swift)\b|#"
)
# The run continues a bank-account-like code ("NL32 GUAJ 0866 7035 47"): not a phone.
_CODE_BEFORE = re.compile(r"[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]{4}){0,7}[ \-]$")
_SPLIT_RE = re.compile(r"(?<=\d{7})\s+(?=\d)|(?<=\d)\s+(?=\d{7})")
_SSN_WORDS = re.compile(r"(?i)\b(?:ssn|social\s+security|soc\.?\s*sec|ss#|tax\s+id|itin)")

# E.164 country calling codes and plausible national significant number lengths.
_CC: dict[str, tuple[int, int]] = {
    "1": (10, 10), "7": (10, 10), "20": (9, 10), "27": (9, 9), "30": (10, 10), "31": (9, 9),
    "32": (8, 9), "33": (9, 9), "34": (9, 9), "36": (8, 9), "39": (6, 11), "40": (9, 9),
    "41": (9, 9), "43": (4, 13), "44": (9, 10), "45": (8, 8), "46": (7, 13), "47": (8, 8),
    "48": (9, 9), "49": (6, 13), "51": (8, 9), "52": (10, 10), "54": (10, 11), "55": (10, 11),
    "56": (9, 9), "57": (10, 10), "60": (8, 10), "61": (9, 9), "62": (8, 12), "63": (10, 10),
    "64": (8, 10), "65": (8, 8), "66": (8, 9), "81": (9, 10), "82": (8, 10), "84": (9, 10),
    "86": (10, 11), "90": (10, 10), "91": (10, 10), "92": (9, 10), "94": (9, 9), "98": (10, 10),
    "212": (9, 9), "234": (8, 10), "254": (9, 9), "351": (9, 9), "352": (6, 11), "353": (7, 9),
    "354": (7, 9), "358": (5, 12), "359": (8, 9), "370": (8, 8), "371": (8, 8), "372": (7, 8),
    "380": (9, 9), "385": (8, 9), "386": (8, 8), "420": (9, 9), "421": (9, 9), "852": (8, 8),
    "886": (9, 9), "961": (7, 8), "966": (9, 9), "971": (8, 9), "972": (8, 9), "974": (8, 8),
}  # fmt: skip


@dataclass(frozen=True)
class _Verdict:
    type: str
    score: float
    reason: str


def _groups(run: str) -> list[str]:
    return re.findall(r"\d+", run)


def _seps(run: str) -> set[str]:
    return set(re.findall(r"[^\d+]+", run))


def _card(run: str, digits: str, groups: list[str]) -> _Verdict | None:
    if not 13 <= len(digits) <= 19 or "+" in run or "(" in run:
        return None
    if len(_seps(run)) > 1:
        return None
    sizes = [len(g) for g in groups]
    grouped_ok = (
        len(groups) == 1
        or (all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4)
        or sizes in ([4, 6, 5], [4, 6, 4], [4, 6, 9])
    )
    if not grouped_ok or not luhn_valid(digits):
        return None
    brand = card_brand(digits)
    if brand is None:
        return None
    return _Verdict("CARD", 0.99, f"Luhn-valid {brand} number")


def _ssn(run: str, groups: list[str], before: str) -> _Verdict | None:
    if [len(g) for g in groups] == [3, 2, 4]:
        seps = _seps(run)
        if seps not in ({"-"}, {" "}) or "+" in run:
            return None
        if ssn_valid(*groups):
            return _Verdict("SSN", 0.9, "US SSN shape 3-2-4 with valid area/group/serial")
    elif len(groups) == 1 and len(groups[0]) == 9 and _SSN_WORDS.search(before):
        g = groups[0]
        if ssn_valid(g[:3], g[3:5], g[5:]):
            return _Verdict("SSN", 0.85, "9 digits after an SSN keyword")
    return None


def _context(before: str) -> tuple[bool, bool]:
    """(phone word nearby, id word nearby), with the closer one winning."""
    phone = max((m.end() for m in _PHONE_WORDS.finditer(before)), default=-1)
    ident = max((m.end() for m in _ID_WORDS.finditer(before)), default=-1)
    return phone > ident, ident > phone


def _phone(run: str, digits: str, groups: list[str], before: str) -> _Verdict | None:
    phone_ctx, id_ctx = _context(before)
    if _CODE_BEFORE.search(before):
        return None
    if run.startswith(("+", "00")):
        intl = digits[2:] if run.startswith("00") else digits
        if run.startswith("00") and len(groups) < 2:
            return None
        for width in (1, 2, 3):
            limits = _CC.get(intl[:width])
            if limits is None:
                continue
            national = intl[width:]
            if national.startswith("0") and width > 1:  # "+44 (0)20 ..." trunk zero
                national = national[1:]
            if limits[0] <= len(national) <= limits[1]:
                return _Verdict("PHONE", 0.95, f"international number, country code +{intl[:width]}")
        if 8 <= len(intl) <= 15 and (len(groups) > 1 or phone_ctx):
            return _Verdict("PHONE", 0.7, "international number")
        return None
    if id_ctx or len(groups[-1]) < 2 or (isbn_valid(digits) and len(groups) >= 4):
        return None
    sizes = [len(g) for g in groups]
    nanp = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    nanp_shape = sizes in ([3, 3, 4], [1, 3, 3, 4]) or (len(groups) == 2 and run.startswith("("))
    nanp_valid = len(nanp) == 10 and nanp[0] in "23456789" and nanp[3] in "23456789"
    if nanp_valid and (nanp_shape or phone_ctx):
        return _Verdict("PHONE", 0.85, "North American number")
    trunk = len(groups) >= 2 and digits[0] == "0" and digits[1] != "0" and 9 <= len(digits) <= 12
    if trunk and max(sizes) <= 8 and (phone_ctx or len(groups) <= 5):
        return _Verdict("PHONE", 0.8, "national number with trunk prefix 0")
    if phone_ctx and 8 <= len(digits) <= 12 and max(sizes) >= 2:
        return _Verdict("PHONE", 0.7, "number after a phone keyword")
    return None


def _classify(text: str, run: str, start: int) -> _Verdict | None:
    groups = _groups(run)
    digits = "".join(groups)
    if len(digits) < 8:
        return None
    before = text[max(0, start - 32) : start]
    return _card(run, digits, groups) or _ssn(run, groups, before) or _phone(run, digits, groups, before)


def _pieces(run: str, start: int) -> list[tuple[str, int]]:
    """Split a run at spaces next to a long bare number ("4111111111111111 4012888888881881")."""
    out: list[tuple[str, int]] = []
    last = 0
    for m in _SPLIT_RE.finditer(run):
        out.append((run[last : m.start()], start + last))
        last = m.end()
    out.append((run[last:], start + last))
    return out


def scan_numbers(text: str) -> list[PIIEntity]:
    """Every card, SSN and phone number in ``text``, in order."""
    out: list[PIIEntity] = []
    if not has_digit(text):
        return out
    for m in _RUN_RE.finditer(text):
        run, start = m.group(), m.start()
        if run.startswith("(") and ")" not in run:
            run, start = run[1:], start + 1
        found = _classify(text, run, start)
        pieces = [(run, start)] if found is not None or " " not in run else _pieces(run, start)
        for piece, at in pieces:
            verdict = found if len(pieces) == 1 else _classify(text, piece, at)
            if verdict is not None:
                end = at + len(piece)
                out.append(PIIEntity(verdict.type, at, end, text[at:end], verdict.score, verdict.reason))
    return out
