"""The AuditStore protocol suite on SQLite and on a real PostgreSQL; Postgres tampering and writers.

The protocol cases run on both stores (``store`` is parametrized), so the Postgres backend is
held to what the SQLite one does. The rest is Postgres only: triggers, a superuser's edit with
the triggers disabled, and two processes appending to one chain at once.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import Result
from tests.services import PostgresServer, free_port, postgres_server
from typer.testing import CliRunner

from poise.audit import GENESIS_HASH, AuditRecord, AuditStore, SQLiteAuditStore, verify_jsonl
from poise.audit.postgres import PostgresAuditStore, redact_url
from poise.cli.audit import app
from poise.errors import AuditError

__all__ = ["postgres_server"]

pytestmark = pytest.mark.integration

runner = CliRunner()

Opener = Callable[[], SQLiteAuditStore | PostgresAuditStore]


def rec(i: int = 0, **fields: object) -> AuditRecord:
    values: dict[str, object] = {"kind": "rail", "name": "pii", "action": "allow", "score": i / 10}
    values.update(fields)
    return AuditRecord.model_validate(values)


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens (another handle on) one fresh store of the parametrized backend."""
    if request.param == "sqlite":
        return lambda: SQLiteAuditStore(tmp_path / "audit.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.fresh_url()
    return lambda: PostgresAuditStore(url)


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[SQLiteAuditStore | PostgresAuditStore]:
    s = opener()
    yield s
    await s.aclose()


@pytest.fixture
def pg(postgres_server: PostgresServer) -> str:
    return postgres_server.fresh_url()


# the protocol, on both backends ----------------------------------------------------------------


def test_satisfies_the_protocol(store: AuditStore) -> None:
    assert isinstance(store, AuditStore)


async def test_append_numbers_and_chains_records(store: AuditStore) -> None:
    stored = await store.append([rec(i) for i in range(3)])
    assert [r.seq for r in stored] == [1, 2, 3]
    assert stored[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in stored[1:]] == [r.hash for r in stored[:2]]
    assert all(r.hash == r.computed_hash() for r in stored)
    [more] = await store.append([rec(9)])
    assert more.seq == 4 and more.prev_hash == stored[2].hash
    assert await store.append([]) == []
    assert (await store.verify()).ok


async def test_stored_records_round_trip_with_the_same_hash(store: AuditStore) -> None:
    [stored] = await store.append([rec(3, categories=("EMAIL",), latency_ms=1.25, data={"n": [1, 2.5]})])
    [read] = await store.tail(1)
    assert read == stored and read.computed_hash() == stored.hash


async def test_each_tenant_has_its_own_chain(store: AuditStore) -> None:
    stored = await store.append([rec(tenant="bank"), rec(tenant="clinic"), rec(tenant="bank")])
    assert [(r.tenant, r.seq) for r in stored] == [("bank", 1), ("clinic", 1), ("bank", 2)]
    assert stored[1].prev_hash == GENESIS_HASH
    report = await store.verify()
    assert report.ok and {t.tenant for t in report.tenants} == {"bank", "clinic"}
    assert (await store.verify("clinic")).records == 1


async def test_records_survive_reopening(opener: Opener) -> None:
    first = opener()
    stored = await first.append([rec(i) for i in range(5)])
    await first.aclose()
    second = opener()
    try:
        assert [r.id async for r in second.iter()] == [r.id for r in stored]
        [nxt] = await second.append([rec(6)])
        assert nxt.seq == 6 and nxt.prev_hash == stored[-1].hash
        assert (await second.verify()).ok
    finally:
        await second.aclose()


async def test_two_handles_appending_at_once_keep_one_chain(opener: Opener) -> None:
    a, b = opener(), opener()
    try:
        await asyncio.gather(*(s.append([rec(i), rec(i, tenant="other")]) for i in range(10) for s in (a, b)))
        report = await a.verify()
        assert report.ok, report.problems
        assert report.records == 40
        assert [r.seq async for r in b.iter()] == list(range(1, 21))
    finally:
        await a.aclose()
        await b.aclose()


async def test_iter_filters_by_time_and_seq(store: AuditStore) -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    await store.append([rec(i, timestamp=t0 + timedelta(minutes=i)) for i in range(5)])
    assert [r.seq async for r in store.iter(since=t0 + timedelta(minutes=3))] == [4, 5]
    assert [r.seq async for r in store.iter(after_seq=2)] == [3, 4, 5]
    assert [r async for r in store.iter("nobody")] == []


async def test_tail_returns_latest_oldest_first(store: AuditStore) -> None:
    await store.append([rec(i, tenant="a" if i % 2 else "b") for i in range(6)])
    assert [r.score for r in await store.tail(3)] == [0.3, 0.4, 0.5]
    assert [r.score for r in await store.tail(2, tenant="b")] == [0.2, 0.4]


async def test_export_writes_verifiable_jsonl(store: AuditStore, tmp_path: Path) -> None:
    await store.append([rec(i, tenant=t, reasons=("é",)) for i in range(3) for t in ("a", "b")])
    out = tmp_path / "trail.jsonl"
    assert await store.export(out) == 6
    assert verify_jsonl(out).ok
    buf = io.StringIO()
    assert await store.export(buf, tenant="b") == 3
    assert {json.loads(line)["tenant"] for line in buf.getvalue().splitlines()} == {"b"}
    with pytest.raises(ValueError, match="unknown export format"):
        await store.export(buf, format="csv")  # type: ignore[arg-type]


async def test_duplicate_record_id_is_refused(store: AuditStore) -> None:
    [stored] = await store.append([rec()])
    with pytest.raises(AuditError, match="cannot append"):
        await store.append([rec(id=stored.id)])
    assert (await store.verify()).ok


async def test_secrets_are_scrubbed_on_append(store: AuditStore) -> None:
    [stored] = await store.append([rec(reasons=("mail jane@example.com",), data={"password": "hunter2"})])
    [read] = await store.tail(1)
    assert read == stored
    assert "jane@example.com" not in read.model_dump_json() and "hunter2" not in read.model_dump_json()


# Postgres only -----------------------------------------------------------------------------


def _superuser(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("UPDATE audit_records SET kind = 'x' WHERE seq = 2", id="update"),
        pytest.param("DELETE FROM audit_records WHERE seq = 2", id="delete"),
        pytest.param("TRUNCATE audit_records", id="truncate"),
    ],
)
async def test_triggers_refuse_changes_to_history(pg: str, sql: str) -> None:
    store = PostgresAuditStore(pg)
    try:
        await store.append([rec(i) for i in range(3)])
        with _superuser(pg) as db, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            db.execute(sql)
        assert (await store.verify()).ok
    finally:
        await store.aclose()


async def test_superuser_edit_with_triggers_disabled_is_detected(pg: str) -> None:
    store = PostgresAuditStore(pg)
    try:
        stored = await store.append([rec(i) for i in range(5)])
        with _superuser(pg) as db:
            db.execute("ALTER TABLE audit_records DISABLE TRIGGER USER")
            db.execute(
                'UPDATE audit_records SET body = replace(body, \'"action":"allow"\', \'"action":"block"\') '
                "WHERE seq = 3"
            )
            report = await store.verify()
            assert [p.kind for p in report.problems] == ["altered", "triggers"]
            assert report.problems[0].seq == 3 and report.problems[0].record_id == stored[2].id
            assert "disabled" in report.problems[1].reason
            db.execute("ALTER TABLE audit_records ENABLE TRIGGER USER")  # hides the switch, not the edit
        report = await store.verify()
        assert [(p.kind, p.seq) for p in report.problems] == [("altered", 3)]
    finally:
        await store.aclose()


async def test_deleted_tail_is_caught_by_the_head(pg: str) -> None:
    store = PostgresAuditStore(pg)
    try:
        await store.append([rec(i) for i in range(4)])
        with _superuser(pg) as db:
            db.execute("SET session_replication_role = replica")  # skips the triggers silently
            db.execute("DELETE FROM audit_records WHERE seq = 4")
        report = await store.verify()
        assert [p.kind for p in report.problems] == ["head"]
    finally:
        await store.aclose()


_WRITER = """
import sys
from poise.audit import AuditRecord
from poise.audit.postgres import PostgresAuditStore
url, worker = sys.argv[1], sys.argv[2]
store = PostgresAuditStore(url)
print("ready", flush=True)
sys.stdin.readline()  # both writers start appending at the same moment
for i in range(25):
    store.append_sync([
        AuditRecord(kind="rail", name=f"w{worker}", score=i / 10),
        AuditRecord(kind="rail", name=f"w{worker}", tenant=f"t{i % 2}"),
    ])
store.close()
"""


@pytest.mark.slow
def test_two_processes_appending_keep_a_valid_chain(pg: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, pg, str(w)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for w in range(2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == b"ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        p.stdin.close()
    assert [p.wait(60) for p in procs] == [0, 0]
    for p in procs:
        assert p.stdout is not None
        p.stdout.close()
    store = PostgresAuditStore(pg)
    try:
        report = asyncio.run(store.verify())
        assert report.ok, report.problems
        assert report.records == 100
        assert {t.tenant: t.records for t in report.tenants} == {"default": 50, "t0": 26, "t1": 24}
    finally:
        store.close()


def test_missing_trail_and_unreachable_server_are_audit_errors(pg: str) -> None:
    with pytest.raises(AuditError, match="no audit trail in"):
        PostgresAuditStore(pg, create=False)
    url = f"postgresql://poise:secret@127.0.0.1:{free_port()}/nope"
    with pytest.raises(AuditError, match="cannot open audit store") as info:
        PostgresAuditStore(url, connect_timeout_s=1)
    assert "secret" not in str(info.value)
    assert redact_url(url) == f"postgresql://poise:***@127.0.0.1:{url.split(':')[3]}"


def test_cli_verify_tail_export_against_postgres(pg: str, tmp_path: Path) -> None:
    store = PostgresAuditStore(pg)
    store.append_sync([rec(i, tenant="acme") for i in range(3)])
    store.close()

    def poise(*args: str) -> Result:
        return runner.invoke(app, [*args, "--db", pg])

    ok = poise("verify")
    assert ok.exit_code == 0, ok.output
    assert "acme: 3 record(s)" in ok.output and "ok: 3 record(s) verified" in ok.output
    tail = poise("tail", "-n", "2", "--json")
    assert [json.loads(line)["seq"] for line in tail.output.splitlines()] == [2, 3]
    out = tmp_path / "trail.jsonl"
    assert poise("export", "--out", str(out)).exit_code == 0
    assert verify_jsonl(out).records == 3
    with _superuser(pg) as db:
        db.execute("ALTER TABLE audit_records DISABLE TRIGGER audit_records_no_update")
        db.execute("UPDATE audit_records SET body = replace(body, 'allow', 'block') WHERE seq = 2")
    bad = poise("verify")
    assert bad.exit_code == 1 and "TAMPERED" in bad.output and "altered" in bad.output
