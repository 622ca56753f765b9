import importlib.util
import sys
import time
from pathlib import Path

import pytest

from poise.guard.pii import ENTITY_TYPES, PIIDetector, Redactor, find_entities, restore
from poise.guard.types import Detector

BENCH = Path(__file__).resolve().parents[2] / "bench"

OPENAI = "sk-proj-abcdefghijklmnopqrstuvwxyz123456"
GITHUB = "ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
GOOGLE = "AIzaSyA1234567890abcdefghijklmnopqrstuv"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"

POSITIVES = [
    ("email", "Write to jane.doe+news@mail.example.co.uk today", "EMAIL", "jane.doe+news@mail.example.co.uk"),
    ("email-sentence-end", "Her address is jane@example.com. Bye", "EMAIL", "jane@example.com"),
    ("phone-e164", "Call +44 20 7946 0958 now", "PHONE", "+44 20 7946 0958"),
    ("phone-e164-compact", "WhatsApp +4915123456789", "PHONE", "+4915123456789"),
    ("phone-nanp", "Call (415) 555-2671 please", "PHONE", "(415) 555-2671"),
    ("phone-fr", "Mon numéro est le 06 12 34 56 78.", "PHONE", "06 12 34 56 78"),
    ("phone-de-context", "Tel.: 030 1234567", "PHONE", "030 1234567"),
    ("card-visa-spaced", "card 4111 1111 1111 1111 exp 12/26", "CARD", "4111 1111 1111 1111"),
    ("card-amex", "Amex 3782 822463 10005 ok", "CARD", "3782 822463 10005"),
    ("card-mc-dashes", "MC 5555-5555-5555-4444.", "CARD", "5555-5555-5555-4444"),
    ("iban-de-spaced", "IBAN DE89 3704 0044 0532 0130 00 bitte", "IBAN", "DE89 3704 0044 0532 0130 00"),
    ("iban-gb-compact", "to GB82WEST12345698765432.", "IBAN", "GB82WEST12345698765432"),
    ("ssn", "My SSN is 536-22-1234.", "SSN", "536-22-1234"),
    ("ssn-bare-context", "ssn: 536221234", "SSN", "536221234"),
    ("ipv4", "from 192.168.10.254 last night", "IPV4", "192.168.10.254"),
    ("ipv6", "host 2001:db8::8a2e:370:7334 down", "IPV6", "2001:db8::8a2e:370:7334"),
    ("aws", "key AKIAIOSFODNN7EXAMPLE here", "API_KEY", "AKIAIOSFODNN7EXAMPLE"),
    ("openai", f"{OPENAI} leaked", "API_KEY", OPENAI),
    ("anthropic", "use sk-ant-api03-abcdefghijklmnopqrstuvwxyz_12 ok", "API_KEY",
     "sk-ant-api03-abcdefghijklmnopqrstuvwxyz_12"),
    ("github", f"token {GITHUB}", "API_KEY", GITHUB),
    ("slack", "xoxb-123456789012-abcdefghijklmnop", "API_KEY", "xoxb-123456789012-abcdefghijklmnop"),
    ("stripe", "sk_live_abcdefghijklmnop1234", "API_KEY", "sk_live_abcdefghijklmnop1234"),
    ("google", f"key={GOOGLE}", "API_KEY", GOOGLE),
    ("jwt", f"Bearer {JWT}", "JWT", JWT),
    ("pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "PRIVATE_KEY",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"),
    ("password-assignment", "password=Xk9#mQ2$vL7p", "SECRET", "Xk9#mQ2$vL7p"),
    ("address-us", "at 1600 Pennsylvania Avenue NW, Washington, DC 20500.", "ADDRESS",
     "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
    ("address-de", "in der Hauptstraße 5 wohnen", "ADDRESS", "Hauptstraße 5"),
    ("address-fr", "au 12 rue de la Paix", "ADDRESS", "12 rue de la Paix"),
]  # fmt: skip

NEGATIVES = [
    ("order-id", "Order ORD-2024-558812 shipped"),
    ("order-number-context", "Your order number is 4155552671."),
    ("order-phone-shaped", "Order 020 7946 0958 was cancelled"),
    ("isbn-13", "ISBN 978-3-16-148410-0"),
    ("isbn-10", "ISBN-10: 0-306-40615-2"),
    ("ups-tracking", "UPS tracking 1Z999AA10123456784"),
    ("tracking-digits", "Tracking number: 940011189922333344"),
    ("version", "Chrome version 1.2.3.4 fixes it"),
    ("semver", "upgrade to v10.21.3"),
    ("iso-timestamp", "Logged at 2024-05-01T10:22:33Z."),
    ("date", "Termin am 15.01.2024 um 10:30"),
    ("price", "The price is $1,299.99 or €45,00"),
    ("sha1", "commit 3f786850e387550fdab836ed7e6dc881de23001b"),
    ("uuid", "id 550e8400-e29b-41d4-a716-446655440000"),
    ("luhn-invalid", "card 4111 1111 1111 1112 declined"),
    ("luhn-invalid-bare", "4111111111111112"),
    ("invalid-iban", "DE89 3704 0044 0532 0130 01"),
    ("ssn-invalid-area", "666-12-3456 and 900-12-3456"),
    ("unix-time", "unix time 1714557600"),
    ("weak-password", "password: hunter22"),
    ("env-reference", "password=${DB_PASSWORD}"),
    ("time", "at 12:30:45 sharp"),
    ("mac", "MAC 00:1A:2B:3C:4D:5E"),
    ("plain", "Hello, how are you today?"),
]


@pytest.mark.parametrize(
    ("text", "type_", "value"), [p[1:] for p in POSITIVES], ids=[p[0] for p in POSITIVES]
)
def test_detects_each_entity_type(text, type_, value):
    found = [(e.type, e.text) for e in find_entities(text)]
    assert (type_, value) in found
    e = next(e for e in find_entities(text) if e.type == type_)
    assert text[e.start : e.end] == value


@pytest.mark.parametrize("text", [n[1] for n in NEGATIVES], ids=[n[0] for n in NEGATIVES])
def test_look_alikes_are_not_flagged(text):
    assert find_entities(text) == []


def test_detector_protocol_and_findings_point_into_original():
    det = PIIDetector()
    assert isinstance(det, Detector)
    text = "mail a@example.com, card 4111111111111111"
    res = det.detect(text)
    assert res.flagged and res.categories == ("EMAIL", "CARD")
    for f in res.findings:
        span = f.spans[0]
        assert span.label == f.category and text[span.start : span.end] in (
            "a@example.com",
            "4111111111111111",
        )
    assert not det.detect("").flagged


def test_detector_can_be_limited_to_types_and_rejects_unknown():
    assert PIIDetector(types=["EMAIL"]).detect("a@example.com 4111111111111111").categories == ("EMAIL",)
    with pytest.raises(ValueError, match="unknown PII entity types"):
        PIIDetector(types=["NAME"])
    assert "EMAIL" in ENTITY_TYPES


def test_redaction_round_trip_with_stable_placeholders():
    r = Redactor()
    first = r.redact("Mail a@b.com or A@B.com; card 4111 1111 1111 1111.")
    assert first.text == "Mail [EMAIL_1] or [EMAIL_1]; card [CARD_1]."
    second = r.redact("Also c@d.org and 4111111111111111")
    assert second.text == "Also [EMAIL_2] and [CARD_1]"
    assert dict(second.mapping) == {
        "[EMAIL_1]": "a@b.com",
        "[CARD_1]": "4111 1111 1111 1111",
        "[EMAIL_2]": "c@d.org",
    }
    reply = "I wrote to [EMAIL_1] and [EMAIL_2] about [CARD_1] and [PHONE_9]."
    assert (
        restore(reply, second.mapping)
        == "I wrote to a@b.com and c@d.org about 4111 1111 1111 1111 and [PHONE_9]."
    )
    assert r.restore(reply, types=["EMAIL"]) == "I wrote to a@b.com and c@d.org about [CARD_1] and [PHONE_9]."
    assert "a@b.com" not in repr(second) and "a@b.com" not in repr(r)


def test_mask_mode_is_irreversible():
    res = Redactor(mode="mask").redact("a@b.com and c@d.org")
    assert res.text == "[EMAIL] and [EMAIL]"
    assert dict(res.mapping) == {}
    with pytest.raises(ValueError):
        Redactor(mode="hash")  # type: ignore[arg-type]


ODD_INPUTS = [
    ("empty", ""),
    ("one-megabyte-prose", "Hello world, nothing to see here. " * 31_000),
    ("lone-surrogates", "\ud800 a@b.com \udfff 4111 1111 1111 1111"),
    ("digit-dash-chain", "1-" * 500_000),
    ("paren-plus-chain", "+1 (" * 250_000),
    ("at-chain", "a@" * 500_000),
    ("colon-chain", "1::" * 333_333),
    ("pem-headers", "-----BEGIN PRIVATE KEY-----" * 30_000),
    ("jwt-like", ("eyJ" + "a" * 100 + ".") * 9_000),
    ("many-cards", "4111111111111111 " * 20_000),
]


@pytest.mark.parametrize("text", [o[1] for o in ODD_INPUTS], ids=[o[0] for o in ODD_INPUTS])
def test_odd_inputs_finish_in_bounded_time(text):
    started = time.perf_counter()
    PIIDetector().detect(text)
    assert time.perf_counter() - started < 5.0


def _load_bench(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_generated_pii_set_meets_the_floors(capsys):
    bench = _load_bench("guard_pii")
    rows = bench.build(seed=7, n=1500)
    exact, overlap = bench.report(rows)
    capsys.readouterr()
    assert exact.recall >= 0.98 and exact.precision >= 0.95
    assert overlap.recall >= 0.98 and overlap.precision >= 0.95
