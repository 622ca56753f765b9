"""No raw secrets, personal data or raw texts reach the trail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from poise.audit import AuditRecord, SQLiteAuditStore, scrub_data, scrub_text, sha256_text

SECRET = "sk-proj-Abcdefghijklmnopqrstuvwx0123456789"
EMAIL = "jane.doe@example.com"


@pytest.mark.parametrize(
    ("text", "raw", "kept"),
    [
        pytest.param(f"user {EMAIL} asked", EMAIL, "[EMAIL]", id="email"),
        pytest.param(f"key {SECRET} leaked", SECRET, "[API_KEY]", id="openai-key"),
        pytest.param(
            "password=hunter2hunter2 in prompt", "hunter2hunter2", "password=[REDACTED]", id="password"
        ),
        pytest.param(
            '"client_secret": "s3cr3t-v4lue"', "s3cr3t-v4lue", '"client_secret": "[', id="json-secret"
        ),
        pytest.param(
            "Authorization: Bearer abc.def.ghi123", "abc.def.ghi123", "Bearer [REDACTED]", id="bearer"
        ),
        pytest.param("postgres://admin:pa55w0rd@db:5432/x", "pa55w0rd", "postgres://[REDACTED]@db", id="url"),
        pytest.param("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111", "[CARD]", id="card"),
    ],
)
def test_scrub_text_masks(text: str, raw: str, kept: str) -> None:
    out = scrub_text(text)
    assert raw not in out
    assert kept in out


def test_scrub_text_leaves_plain_text_alone() -> None:
    text = "blocked: prompt injection (score 0.93), order 12345"
    assert scrub_text(text) == text


def test_scrub_data_masks_secret_keys_and_hashes_raw_texts() -> None:
    data = {
        "api_key": "anything-at-all",
        "headers": {"Authorization": "Basic dXNlcjpwYXNz"},
        "prompt": "my email is jane@example.com",
        "messages": [{"role": "user", "content": "hi"}],
        "notes": [f"contact {EMAIL}", 3],
        "count": 2,
        "text": None,
    }
    out = scrub_data(data)
    assert out["api_key"] == "[REDACTED]"
    assert out["headers"] == {"Authorization": "[REDACTED]"}
    assert out["prompt"] == f"sha256:{sha256_text('my email is jane@example.com')}"
    assert str(out["messages"]).startswith("sha256:")
    assert out["notes"] == ["contact [EMAIL]", 3]
    assert out["count"] == 2 and out["text"] is None
    assert scrub_data(out) == out  # idempotent: digests are not re-hashed


async def test_secret_and_email_in_reasons_are_not_stored_raw(store: SQLiteAuditStore, db_path: Path) -> None:
    record = AuditRecord(
        kind="rail",
        name="secrets",
        action="block",
        reasons=(f"found {SECRET} sent by {EMAIL}",),
        data={"detail": f"reply-to {EMAIL}", "token": SECRET},
    )
    [stored] = await store.append([record])
    assert stored.reasons == ("found [API_KEY] sent by [EMAIL]",)
    assert (await store.verify()).ok
    with sqlite3.connect(db_path) as db:
        dump = "\n".join(db.iterdump())
    assert SECRET not in dump
    assert EMAIL not in dump
