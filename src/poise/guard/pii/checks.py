"""Checksums and validity rules that separate real identifiers from look-alikes.

A 16-digit number is a payment card only if it passes Luhn *and* starts with a known issuer range;
a string shaped like an IBAN is one only if its country's length matches and mod-97 gives 1. These
checks are what keep order ids, tracking numbers and random digits out of the findings.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter

__all__ = [
    "IBAN_LENGTHS",
    "card_brand",
    "iban_valid",
    "ipv6_valid",
    "isbn_valid",
    "luhn_valid",
    "shannon_entropy",
    "ssn_valid",
]

# Issuer ranges: (prefix low, prefix high, brand, allowed lengths). Prefixes compare as integers
# over the same number of leading digits.
_IIN: tuple[tuple[int, int, str, tuple[int, ...]], ...] = (
    (4, 4, "visa", (13, 16, 19)),
    (51, 55, "mastercard", (16,)),
    (2221, 2720, "mastercard", (16,)),
    (34, 34, "amex", (15,)),
    (37, 37, "amex", (15,)),
    (6011, 6011, "discover", (16, 19)),
    (644, 649, "discover", (16, 19)),
    (65, 65, "discover", (16, 19)),
    (300, 305, "diners", (14, 16, 19)),
    (36, 36, "diners", (14, 16, 19)),
    (38, 39, "diners", (14, 16, 19)),
    (3528, 3589, "jcb", (16, 17, 18, 19)),
    (62, 62, "unionpay", (16, 17, 18, 19)),
    (5018, 5018, "maestro", (12, 13, 14, 15, 16, 17, 18, 19)),
    (5020, 5020, "maestro", (13, 14, 15, 16, 17, 18, 19)),
    (5038, 5038, "maestro", (13, 14, 15, 16, 17, 18, 19)),
    (5893, 5893, "maestro", (13, 14, 15, 16, 17, 18, 19)),
    (6304, 6304, "maestro", (13, 14, 15, 16, 17, 18, 19)),
    (6759, 6759, "maestro", (13, 14, 15, 16, 17, 18, 19)),
    (6761, 6763, "maestro", (13, 14, 15, 16, 17, 18, 19)),
    (2200, 2204, "mir", (16, 17, 18, 19)),
)

# IBAN length per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment cards. ``digits`` holds only 0-9."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0 and len(digits) > 1


def card_brand(digits: str) -> str | None:
    """The card brand whose issuer range and length fit ``digits``, or ``None``."""
    n = len(digits)
    for low, high, brand, lengths in _IIN:
        width = len(str(low))
        if n in lengths and low <= int(digits[:width]) <= high:
            return brand
    return None


def iban_valid(compact: str) -> bool:
    """Country length and ISO 7064 mod-97 check; ``compact`` is upper case without spaces."""
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is None or len(compact) != expected or not compact[2:4].isdigit():
        return False
    if not compact.isalnum() or not compact.isascii():
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """US SSN rules: no 000/666/9xx area, no 00 group, no 0000 serial, no famous samples."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return f"{area}{group}{serial}" not in ("078051120", "219099999", "123456789")


def isbn_valid(compact: str) -> bool:
    """ISBN-10 (mod 11, may end in X) or ISBN-13 (978/979 prefix, mod 10 weights 1/3)."""
    if len(compact) == 10 and compact[:9].isdigit() and (compact[9].isdigit() or compact[9] in "Xx"):
        total = sum((10 - i) * int(c) for i, c in enumerate(compact[:9]))
        total += 10 if compact[9] in "Xx" else int(compact[9])
        return total % 11 == 0
    if len(compact) == 13 and compact.isdigit() and compact[:3] in ("978", "979"):
        return sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(compact)) % 10 == 0
    return False


def ipv6_valid(candidate: str) -> bool:
    """A real IPv6 address with at least three groups (so ``12:30`` or ``a::b`` do not count)."""
    if candidate.count(":") < 2:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    groups = [g for g in candidate.split(":") if g]
    return len(groups) >= 3 or (candidate.startswith("::") and len(groups) >= 2 and "." in candidate)


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value`` (0 for empty)."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())
