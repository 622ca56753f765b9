"""Build a seeded PII evaluation set: real-looking entities in sentences of several languages.

Positives are generated from the specifications (card issuer ranges + Luhn, IBAN country formats +
mod-97, E.164 and national phone formats, SSN rules, vendor key formats), not from the detector's
regexes. Hard negatives are look-alikes: order ids, ISBN-10/13, tracking numbers, versions, dates,
timestamps, prices, hashes, UUIDs, Luhn-invalid card numbers, IBANs with a wrong checksum.

    python bench/build_pii_set.py --seed 7 --n 1500 --out /tmp/pii.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from collections.abc import Callable
from pathlib import Path

Gen = Callable[[random.Random], str]


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


_CARD_PREFIXES = [
    ("4", 16),
    ("4", 13),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("65", 16),
    ("36", 14),
    ("3530", 16),
    ("62", 16),
    ("4", 19),
]


def card(rng: random.Random) -> str:
    prefix, length = rng.choice(_CARD_PREFIXES)
    number = _luhn_complete(prefix, length, rng)
    style = rng.random()
    if length == 15 and style < 0.6:
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    if style < 0.35:
        return number
    sep = rng.choice([" ", "-"])
    return sep.join(number[i : i + 4] for i in range(0, length, 4))


def bad_card(rng: random.Random) -> str:
    prefix, length = rng.choice(_CARD_PREFIXES)
    number = _luhn_complete(prefix, length, rng)
    number = number[:-1] + str((int(number[-1]) + rng.randint(1, 9)) % 10)
    return " ".join(number[i : i + 4] for i in range(0, length, 4)) if rng.random() < 0.5 else number


_IBAN_FORMATS = {
    "DE": "18n",
    "FR": "10n11c2n",
    "GB": "4a14n",
    "ES": "20n",
    "IT": "1a10n12c",
    "NL": "4a10n",
    "BE": "12n",
    "CH": "5n12c",
    "AT": "16n",
    "PL": "24n",
    "PT": "21n",
    "SE": "20n",
    "NO": "11n",
    "DK": "14n",
    "FI": "14n",
    "IE": "4a14n",
    "LU": "3n13c",
    "GR": "7n16c",
    "BR": "23n1a1c",
    "TR": "5n1n16c",
    "SA": "2n18c",
    "AE": "3n16n",
    "CZ": "20n",
    "HU": "24n",
    "RO": "4a16c",
}


def _iban_body(fmt: str, rng: random.Random) -> str:
    out, num = [], ""
    for ch in fmt:
        if ch.isdigit():
            num += ch
            continue
        pool = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits + string.ascii_uppercase}[
            ch
        ]
        out.extend(rng.choice(pool) for _ in range(int(num)))
        num = ""
    return "".join(out)


def _iban(rng: random.Random, valid: bool) -> str:
    country = rng.choice(list(_IBAN_FORMATS))
    bban = _iban_body(_IBAN_FORMATS[country], rng)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    if not valid:
        check = (check + rng.randint(1, 90)) % 97 + 2
    iban = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def iban(rng: random.Random) -> str:
    return _iban(rng, True)


def bad_iban(rng: random.Random) -> str:
    return _iban(rng, False)


def phone(rng: random.Random) -> str:
    d = lambda k: "".join(rng.choice(string.digits) for _ in range(k))  # noqa: E731
    n = lambda: str(rng.randint(2, 9))  # noqa: E731
    styles = [
        lambda: f"+1 {n()}{d(2)} {n()}{d(2)} {d(4)}", lambda: f"({n()}{d(2)}) {n()}{d(2)}-{d(4)}",
        lambda: f"{n()}{d(2)}-{n()}{d(2)}-{d(4)}", lambda: f"+1-{n()}{d(2)}-{n()}{d(2)}-{d(4)}",
        lambda: f"+44 20 {d(4)} {d(4)}", lambda: f"+44 7{d(3)} {d(6)}", lambda: f"07{d(3)} {d(6)}",
        lambda: f"+49 30 {d(8)}", lambda: f"+49 151 {d(8)}", lambda: f"030 {d(7)}",
        lambda: f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}", lambda: f"06 {d(2)} {d(2)} {d(2)} {d(2)}",
        lambda: f"+34 6{d(2)} {d(3)} {d(3)}", lambda: f"+39 06 {d(4)} {d(4)}", lambda: f"+81 3-{d(4)}-{d(4)}",
        lambda: f"+91 98{d(3)} {d(5)}", lambda: f"+61 4{d(2)} {d(3)} {d(3)}",
        lambda: f"+55 11 9{d(4)}-{d(4)}",
        lambda: f"+4915{d(9)}", lambda: f"+1{n()}{d(2)}{n()}{d(6)}", lambda: f"0044 20 {d(4)} {d(4)}",
        lambda: f"+31 6 {d(8)}", lambda: f"+86 138 {d(4)} {d(4)}",
    ]  # fmt: skip
    return rng.choice(styles)()


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def email(rng: random.Random) -> str:
    first = rng.choice(
        ["anna", "j.smith", "li.wei", "maria_garcia", "o.brien", "kenji", "fatima.z", "pierre"]
    )
    tail = rng.choice(["", str(rng.randint(1, 99)), "+news", ".work"])
    domain = rng.choice(
        ["example.com", "mail.example.org", "firma.de", "correo.es", "uni-bonn.de", "co.uk.example.net"]
    )
    return f"{first}{tail}@{domain}"


def ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1 if i == 0 else 0, 255)) for i in range(4))


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return "2001:db8::" + ":".join(groups[:3])
    return ":".join(groups)


def _rand(rng: random.Random, alphabet: str, k: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(k))


_AN = string.ascii_letters + string.digits


def api_key(rng: random.Random) -> str:
    kinds = [
        lambda: "AKIA" + _rand(rng, string.ascii_uppercase + string.digits, 16),
        lambda: "sk-" + _rand(rng, _AN, 48), lambda: "sk-proj-" + _rand(rng, _AN + "_-", 56),
        lambda: "sk-ant-api03-" + _rand(rng, _AN + "_-", 80), lambda: "ghp_" + _rand(rng, _AN, 36),
        lambda: "github_pat_" + _rand(rng, _AN + "_", 82),
        lambda: "xoxb-" + _rand(rng, string.digits, 12) + "-" + _rand(rng, _AN, 24),
        lambda: "sk_live_" + _rand(rng, _AN, 24), lambda: "AIza" + _rand(rng, _AN + "_-", 35),
    ]  # fmt: skip
    return rng.choice(kinds)()


def jwt(rng: random.Random) -> str:
    return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + _rand(rng, _AN, 40) + "." + _rand(rng, _AN + "_-", 43)


def private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    body = "\n".join(_rand(rng, _AN + "+/", 64) for _ in range(rng.randint(2, 6)))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def secret(rng: random.Random) -> str:
    return _rand(rng, _AN + "!#%&*@^", rng.randint(12, 32))


_US_STREET_TYPES = ["Street", "Ave", "Road", "Blvd", "Lane", "Drive"]


def address(rng: random.Random) -> str:
    street = rng.choice(["Maple", "Oak", "Elm", "Washington", "Lake View", "Sunset", "Park"])
    styles = [
        lambda: f"{rng.randint(1, 9999)} {street} {rng.choice(_US_STREET_TYPES)}",
        lambda: f"{rng.randint(1, 999)} {street} St, Springfield, IL {rng.randint(10000, 99999)}",
        lambda: f"{rng.choice(['Haupt', 'Bahnhof', 'Linden'])}{rng.choice(['straße', 'weg', 'allee'])} "
        f"{rng.randint(1, 200)}",
        lambda: f"{rng.randint(1, 120)} rue {rng.choice(['de la Paix', 'Victor Hugo', 'du Bac', 'Lepic'])}",
        lambda: f"{rng.randint(1, 90)} avenue {rng.choice(['Foch', 'des Ternes', 'Jean Jaurès'])}",
    ]  # fmt: skip
    return rng.choice(styles)()


POSITIVE: dict[str, tuple[Gen, list[str]]] = {
    "CARD": (
        card,
        [
            "Please charge my card {x} for the order.",
            "Meine Kreditkartennummer ist {x}.",
            "Numéro de carte : {x}, expiration 09/27.",
            "Mi tarjeta es {x}, gracias.",
            "card={x}",
        ],
    ),
    "IBAN": (
        iban,
        [
            "Überweisen Sie bitte auf {x}.",
            "My IBAN is {x}",
            "IBAN : {x} (compte joint)",
            "Transfer the deposit to {x} by Friday.",
            "Il mio IBAN è {x}.",
        ],
    ),
    "PHONE": (
        phone,
        [
            "Call me at {x} tomorrow.",
            "Tel.: {x}",
            "You can reach our office on {x} until 5pm.",
            "Ruf mich an unter {x}.",
            "Mon numéro est le {x}.",
            "Llámame al {x}, por favor.",
            "Mobile: {x}",
            "WhatsApp {x} if the flight is late.",
        ],
    ),
    "SSN": (ssn, ["My SSN is {x}.", "Social security number: {x}", "SSN {x} on the W-2 form."]),
    "EMAIL": (email, ["Write to {x} for details.", "Mail: {x}", "Schreib mir an {x}!", "Contact: <{x}>"]),
    "IPV4": (ipv4, ["The attack came from {x} last night.", "Server IP: {x}", "ssh admin@host ({x})"]),
    "IPV6": (ipv6, ["Host address {x} is unreachable.", "IPv6: {x}"]),
    "API_KEY": (api_key, ["export API_KEY_VAR={x}", "Here is my key {x} please debug", "key: `{x}`"]),
    "JWT": (jwt, ["Authorization: Bearer {x}", "The token {x} expired."]),
    "PRIVATE_KEY": (private_key, ["Here is the deploy key:\n{x}\nkeep it safe", "id_rsa:\n{x}"]),
    "SECRET": (secret, ["DB_PASSWORD={x}", "password: {x}", 'client_secret = "{x}"']),
    "ADDRESS": (
        address,
        [
            "Ship it to {x}.",
            "Ich wohne in der {x} in Berlin.",
            "J'habite au {x} à Paris.",
            "The office moved to {x} last year.",
        ],
    ),
}

NEGATIVE: list[tuple[Gen, list[str]]] = [
    (bad_card, ["Card {x} was declined.", "Reference {x}"]),
    (bad_iban, ["Is {x} a valid IBAN?", "IBAN {x} (rejected)"]),
    (lambda r: f"{r.randint(100000, 999999)}-{r.randint(1000000, 9999999)}", ["Order {x} has shipped."]),
    (lambda r: str(r.randint(10**11, 10**12 - 1)), ["Your order number is {x}.", "Tracking number: {x}"]),
    (lambda r: "1Z" + _rand(r, string.ascii_uppercase + string.digits, 16), ["UPS tracking {x}"]),
    (
        lambda r: f"978-{r.randint(0, 9)}-{r.randint(10, 99)}-{r.randint(100000, 999999)}-{r.randint(0, 9)}",
        ["ISBN {x}", "The book (ISBN {x}) is out of print."],
    ),
    (
        lambda r: f"0-{r.randint(100, 999)}-{r.randint(10000, 99999)}-{r.choice('0123456789X')}",
        ["ISBN-10: {x}"],
    ),
    (lambda r: f"v{r.randint(1, 20)}.{r.randint(0, 30)}.{r.randint(0, 99)}", ["Upgrade to {x} now."]),
    (
        lambda r: f"{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 20)}.{r.randint(0, 9999)}",
        ["Chrome version {x} fixes it."],
    ),
    (
        lambda r: (
            f"20{r.randint(10, 30)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:"
            f"{r.randint(0, 59):02d}:00Z"
        ),
        ["Logged at {x}.", "Zeitstempel {x}"],
    ),
    (lambda r: f"{r.randint(1, 28):02d}.{r.randint(1, 12):02d}.20{r.randint(10, 30)}", ["Termin am {x}."]),
    (lambda r: f"${r.randint(1, 99)},{r.randint(100, 999)}.{r.randint(0, 99):02d}", ["The price is {x}."]),
    (lambda r: _rand(r, "0123456789abcdef", 40), ["commit {x}", "sha1 {x}"]),
    (
        lambda r: "-".join(_rand(r, "0123456789abcdef", k) for k in (8, 4, 4, 4, 12)),
        ["Request id {x} failed."],
    ),
    (lambda r: str(r.randint(10**15, 10**16 - 1)), ["Invoice {x} is overdue."]),
    (lambda r: str(r.randint(1_600_000_000, 1_800_000_000)), ["unix time {x}"]),
    (lambda r: f"{r.randint(1, 9)} {r.randint(100, 999)} {r.randint(100, 999)}", ["Population: {x} people."]),
]

FILLERS = ["", "Hi! ", "Thanks in advance. ", "Quick question: ", "Bonjour, ", "Hallo, ", "Hola. "]


def build(seed: int, n: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        if i % 3 == 2:
            gen, templates = rng.choice(NEGATIVE)
            value = gen(rng)
            text = rng.choice(FILLERS) + rng.choice(templates).format(x=value)
            rows.append({"text": text, "entities": []})
            continue
        kinds = rng.sample(list(POSITIVE), k=rng.choice([1, 1, 2]))
        text, entities = rng.choice(FILLERS), []
        for kind in kinds:
            gen, templates = POSITIVE[kind]
            value = gen(rng)
            template = rng.choice(templates)
            start = len(text) + template.index("{x}")
            text += template.format(x=value) + " "
            entities.append({"start": start, "end": start + len(value), "type": kind})
        rows.append({"text": text.rstrip(), "entities": entities})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=None, help="JSONL path (default: stdout)")
    args = parser.parse_args(argv)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build(args.seed, args.n))
    if args.out is None:
        sys.stdout.write(lines)
    else:
        args.out.write_text(lines, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
