"""SQLiteAuditStore: chaining, durability across reopen, concurrency, iteration and export."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poise.audit import (
    GENESIS_HASH,
    AuditRecord,
    AuditStore,
    SQLiteAuditStore,
    canonical_json,
    default_audit_path,
    verify_jsonl,
)
from poise.errors import AuditError
from poise.guard.types import DetectorResult, Finding, Span


def rec(i: int = 0, **fields: object) -> AuditRecord:
    values: dict[str, object] = {"kind": "rail", "name": "pii", "action": "allow", "score": i / 10}
    values.update(fields)
    return AuditRecord.model_validate(values)


def test_store_satisfies_the_protocol(store: SQLiteAuditStore) -> None:
    assert isinstance(store, AuditStore)


def test_default_path_is_under_poise_home(tmp_path: Path) -> None:
    assert default_audit_path() == tmp_path / "poise-home" / "audit.db"


async def test_append_numbers_and_chains_records(store: SQLiteAuditStore) -> None:
    stored = await store.append([rec(i) for i in range(3)])
    assert [r.seq for r in stored] == [1, 2, 3]
    assert stored[0].prev_hash == GENESIS_HASH
    assert stored[1].prev_hash == stored[0].hash
    assert stored[2].prev_hash == stored[1].hash
    assert all(r.hash == r.computed_hash() for r in stored)
    more = await store.append([rec(9)])
    assert more[0].seq == 4 and more[0].prev_hash == stored[2].hash
    assert (await store.verify()).ok


async def test_append_of_nothing_is_a_no_op(store: SQLiteAuditStore) -> None:
    assert await store.append([]) == []


async def test_stored_records_round_trip_with_the_same_hash(store: SQLiteAuditStore) -> None:
    [stored] = await store.append([rec(3, categories=("EMAIL",), latency_ms=1.25, data={"n": [1, 2.5]})])
    [read] = await store.tail(1)
    assert read == stored
    assert read.computed_hash() == stored.hash


async def test_each_tenant_has_its_own_chain(store: SQLiteAuditStore) -> None:
    stored = await store.append([rec(tenant="bank"), rec(tenant="clinic"), rec(tenant="bank")])
    assert [(r.tenant, r.seq) for r in stored] == [("bank", 1), ("clinic", 1), ("bank", 2)]
    assert stored[1].prev_hash == GENESIS_HASH
    report = await store.verify()
    assert report.ok and {t.tenant for t in report.tenants} == {"bank", "clinic"}
    assert (await store.verify("clinic")).records == 1


async def test_records_survive_reopening(db_path: Path) -> None:
    first = SQLiteAuditStore(db_path)
    stored = await first.append([rec(i) for i in range(5)])
    first.close()
    second = SQLiteAuditStore(db_path)
    try:
        assert [r.id async for r in second.iter()] == [r.id for r in stored]
        [nxt] = await second.append([rec(6)])
        assert nxt.seq == 6 and nxt.prev_hash == stored[-1].hash
        assert (await second.verify()).ok
    finally:
        second.close()


def test_durability_settings(store: SQLiteAuditStore, db_path: Path) -> None:
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


async def test_concurrent_appends_from_tasks_and_threads_keep_one_chain(store: SQLiteAuditStore) -> None:
    def in_thread(n: int) -> None:
        for i in range(10):
            store.append_sync([rec(i, name=f"thread-{n}")])

    threads = [threading.Thread(target=in_thread, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    await asyncio.gather(*(store.append([rec(i, name=f"task-{i}"), rec(i)]) for i in range(20)))
    for t in threads:
        t.join()
    report = await store.verify()
    assert report.ok, report.problems
    assert report.records == 3 * 10 + 20 * 2
    seqs = [r.seq async for r in store.iter()]
    assert seqs == list(range(1, 71))


async def test_two_store_instances_on_one_file_do_not_fork_the_chain(db_path: Path) -> None:
    a, b = SQLiteAuditStore(db_path), SQLiteAuditStore(db_path)
    try:
        await asyncio.gather(*(s.append([rec(i)]) for i in range(10) for s in (a, b)))
        report = await a.verify()
        assert report.ok and report.records == 20
    finally:
        a.close()
        b.close()


async def test_iter_filters_by_time_and_seq(store: SQLiteAuditStore) -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    await store.append([rec(i, timestamp=t0 + timedelta(minutes=i)) for i in range(5)])
    assert [r.seq async for r in store.iter(since=t0 + timedelta(minutes=3))] == [4, 5]
    assert [r.seq async for r in store.iter(after_seq=2)] == [3, 4, 5]
    assert [r async for r in store.iter("nobody")] == []


async def test_tail_returns_latest_oldest_first(store: SQLiteAuditStore) -> None:
    await store.append([rec(i, tenant="a" if i % 2 else "b") for i in range(6)])
    assert [r.score for r in await store.tail(3)] == [0.3, 0.4, 0.5]
    assert [r.score for r in await store.tail(2, tenant="b")] == [0.2, 0.4]


async def test_export_writes_verifiable_jsonl(store: SQLiteAuditStore, tmp_path: Path) -> None:
    await store.append([rec(i, tenant=t) for i in range(3) for t in ("a", "b")])
    out = tmp_path / "trail.jsonl"
    assert await store.export(out) == 6
    report = verify_jsonl(out)
    assert report.ok and report.records == 6
    lines = out.read_text().splitlines()
    lines[1] = lines[1].replace('"action":"allow"', '"action":"block"')
    out.write_text("\n".join(lines) + "\n")
    bad = verify_jsonl(out)
    assert not bad.ok and bad.problems[0].kind == "altered"


async def test_export_to_a_stream_for_one_tenant(store: SQLiteAuditStore) -> None:
    await store.append([rec(tenant="a"), rec(tenant="b")])
    buf = io.StringIO()
    assert await store.export(buf, tenant="b") == 1
    assert json.loads(buf.getvalue())["tenant"] == "b"
    with pytest.raises(ValueError, match="unknown export format"):
        await store.export(buf, format="csv")  # type: ignore[arg-type]


async def test_exported_lines_are_canonical_json(store: SQLiteAuditStore) -> None:
    await store.append([rec(reasons=("é",))])
    buf = io.StringIO()
    await store.export(buf)
    line = buf.getvalue().rstrip("\n")
    assert line == canonical_json(json.loads(line))


def test_missing_database_is_an_error_when_not_creating(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="no audit database"):
        SQLiteAuditStore(tmp_path / "nope.db", create=False)


def test_garbage_file_is_an_audit_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(AuditError, match="cannot open audit store"):
        SQLiteAuditStore(path)


async def test_duplicate_record_id_is_refused(store: SQLiteAuditStore) -> None:
    [stored] = await store.append([rec()])
    with pytest.raises(AuditError, match="cannot append"):
        await store.append([rec(id=stored.id)])
    assert (await store.verify()).ok


async def test_in_memory_store_works(tmp_path: Path) -> None:
    s = SQLiteAuditStore(":memory:")
    await s.append([rec(i) for i in range(3)])
    assert (await s.verify()).ok
    assert len([r async for r in s.iter()]) == 3
    await s.aclose()


def test_records_are_frozen_and_need_aware_timestamps() -> None:
    r = rec()
    with pytest.raises(ValueError, match="frozen"):
        r.kind = "turn"  # type: ignore[misc]
    with pytest.raises(ValueError, match="timezone-aware"):
        rec(timestamp=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="extra"):
        AuditRecord.model_validate({"kind": "turn", "text": "raw"})


def test_record_for_detection_keeps_offsets_and_a_digest_only() -> None:
    result = DetectorResult(
        detector="pii",
        flagged=True,
        score=0.9,
        findings=(Finding("EMAIL", 0.9, (Span(8, 24, "EMAIL"),), "e-mail address"),),
        latency_ms=0.5,
    )
    text = "mail me jane@example.com"
    r = AuditRecord.for_detection(result, text=text, action="redact", session_id="s1")
    assert r.kind == "rail" and r.name == "pii" and r.categories == ("EMAIL",)
    assert [(s.start, s.end, s.label) for s in r.spans] == [(8, 24, "EMAIL")]
    assert r.input_sha256 is not None and len(r.input_sha256) == 64
    assert "jane" not in r.model_dump_json()


def test_new_database_has_the_append_only_triggers(db_path: Path) -> None:
    SQLiteAuditStore(db_path).close()
    with sqlite3.connect(db_path) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert names == {"audit_records_no_update", "audit_records_no_delete"}


def test_public_api_is_pinned() -> None:
    import poise.audit

    assert set(poise.audit.__all__) == {
        "GENESIS_HASH", "Action", "AuditRecord", "AuditSpan", "AuditStore", "ChainHead", "ChainRow",
        "ExportFormat", "PostgresAuditStore", "ProblemKind", "SQLiteAuditStore", "TenantSummary",
        "VerifyProblem", "VerifyReport", "canonical_json", "default_audit_path", "scrub_data", "scrub_record",
        "scrub_text", "sha256_text", "verify_chain", "verify_jsonl",
    }  # fmt: skip
    assert all(hasattr(poise.audit, name) for name in poise.audit.__all__)
