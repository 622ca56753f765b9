"""Tampering behind the store's back (raw sqlite, triggers dropped) is caught by verify."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from poise.audit import AuditRecord, SQLiteAuditStore, VerifyProblem, VerifyReport, canonical_json


def rec(i: int = 0, **fields: object) -> AuditRecord:
    values: dict[str, object] = {"kind": "decision", "name": "policy", "action": "allow", "score": i / 10}
    values.update(fields)
    return AuditRecord.model_validate(values)


def body_of(raw: sqlite3.Connection, seq: int, tenant: str = "default") -> dict[str, object]:
    row = raw.execute("SELECT body FROM audit_records WHERE tenant = ? AND seq = ?", (tenant, seq)).fetchone()
    loaded: dict[str, object] = json.loads(row[0])
    return loaded


def chain_problems(report: VerifyReport) -> list[VerifyProblem]:
    return [p for p in report.problems if p.kind != "triggers"]


@pytest.fixture
async def five(store: SQLiteAuditStore) -> list[AuditRecord]:
    return await store.append([rec(i) for i in range(5)])


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("UPDATE audit_records SET kind = 'x' WHERE seq = 2", id="update"),
        pytest.param("DELETE FROM audit_records WHERE seq = 2", id="delete"),
        pytest.param("DELETE FROM audit_records", id="delete-all"),
    ],
)
async def test_triggers_refuse_update_and_delete(
    store: SQLiteAuditStore, five: list[AuditRecord], db_path: Path, sql: str
) -> None:
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(sql)
    finally:
        db.close()
    assert (await store.verify()).ok


async def test_verify_reports_dropped_triggers(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    report = await store.verify()
    assert not report.ok
    assert [p.kind for p in report.problems] == ["triggers"]


async def test_edit_of_the_body_is_caught(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    body = body_of(raw, 3)
    body["action"] = "block"
    raw.execute("UPDATE audit_records SET body = ? WHERE seq = 3", (canonical_json(body),))
    [problem] = chain_problems(await store.verify())
    assert problem.kind == "altered" and problem.seq == 3 and problem.record_id == five[2].id


async def test_edit_with_recomputed_hash_breaks_the_next_link(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    body = body_of(raw, 2)
    body["score"] = 0.0
    forged = AuditRecord.from_body(body)
    body["hash"] = forged.computed_hash()
    raw.execute(
        "UPDATE audit_records SET body = ?, hash = ? WHERE seq = 2", (canonical_json(body), body["hash"])
    )
    [problem] = chain_problems(await store.verify())
    assert problem.kind == "link" and problem.seq == 3


async def test_edit_of_the_hash_column_only_is_caught(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    raw.execute("UPDATE audit_records SET hash = ? WHERE seq = 4", ("f" * 64,))
    [problem] = chain_problems(await store.verify())
    assert problem.kind == "altered" and problem.seq == 4


async def test_deletion_in_the_middle_is_caught(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    raw.execute("DELETE FROM audit_records WHERE seq = 2")
    [problem] = chain_problems(await store.verify())
    assert problem.kind == "gap" and problem.seq == 3
    assert "expected seq 2" in problem.reason


async def test_deletion_of_the_tail_is_caught_by_the_head(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    raw.execute("DELETE FROM audit_records WHERE seq >= 4")
    [problem] = chain_problems(await store.verify())
    assert problem.kind == "head"


async def test_deletion_of_a_whole_chain_is_caught_by_the_head(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    raw.execute("DELETE FROM audit_records")
    [problem] = chain_problems(await store.verify())
    assert problem.kind == "head" and problem.tenant == "default"


async def test_insertion_in_the_middle_is_caught(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    # Make room at seq 3 (shift 3..5 up), then insert a record correctly chained to seq 2.
    for seq in (5, 4, 3):
        raw.execute("UPDATE audit_records SET seq = seq + 1 WHERE seq = ?", (seq,))
    forged = rec(99).model_copy(update={"seq": 3, "prev_hash": five[1].hash})
    forged = forged.model_copy(update={"hash": forged.computed_hash()})
    raw.execute(
        "INSERT INTO audit_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("default", 3, forged.id, 0.0, "decision", None, forged.prev_hash, forged.hash,
         canonical_json(forged.body())),
    )  # fmt: skip
    [problem] = chain_problems(await store.verify())
    # seq 3 is the forged one and fits; the shifted original (body seq 3) sits at row 4.
    assert problem.kind == "order" and problem.seq == 4


async def test_insertion_at_the_end_is_caught(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    forged = rec(99).model_copy(update={"seq": 6, "prev_hash": five[-1].hash})
    forged = forged.model_copy(update={"hash": forged.computed_hash()})
    raw.execute(
        "INSERT INTO audit_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("default", 6, forged.id, 0.0, "decision", None, forged.prev_hash, forged.hash,
         canonical_json(forged.body())),
    )  # fmt: skip
    [problem] = chain_problems(await store.verify())
    assert problem.kind == "head"


async def test_swapping_two_records_is_caught(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    raw.execute("UPDATE audit_records SET seq = -1 WHERE seq = 2")
    raw.execute("UPDATE audit_records SET seq = 2 WHERE seq = 3")
    raw.execute("UPDATE audit_records SET seq = 3 WHERE seq = -1")
    [problem] = chain_problems(await store.verify())
    assert problem.kind == "order" and problem.seq == 2


async def test_reordering_with_renumbered_bodies_is_caught(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    a, b = body_of(raw, 2), body_of(raw, 3)
    a["seq"], b["seq"] = 3, 2
    raw.execute("UPDATE audit_records SET body = ? WHERE seq = 2", (canonical_json(b),))
    raw.execute("UPDATE audit_records SET body = ? WHERE seq = 3", (canonical_json(a),))
    [problem] = chain_problems(await store.verify())
    assert problem.kind == "link" and problem.seq == 2


async def test_unreadable_row_is_caught(
    store: SQLiteAuditStore, five: list[AuditRecord], raw: sqlite3.Connection
) -> None:
    raw.execute("UPDATE audit_records SET body = 'not json' WHERE seq = 1")
    [problem] = chain_problems(await store.verify())
    assert problem.kind == "unreadable" and problem.seq == 1


async def test_tampering_one_tenant_leaves_the_others_ok(
    store: SQLiteAuditStore, raw: sqlite3.Connection
) -> None:
    await store.append([rec(i, tenant=t) for i in range(3) for t in ("bank", "clinic")])
    raw.execute("DELETE FROM audit_records WHERE tenant = 'clinic' AND seq = 1")
    report = await store.verify()
    [problem] = chain_problems(report)
    assert problem.tenant == "clinic"
    summaries = {t.tenant: t for t in report.tenants}
    assert summaries["bank"].records == 3
    assert chain_problems(await store.verify("bank")) == []
