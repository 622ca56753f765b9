"""``poise audit verify|tail|export`` through Typer's CliRunner."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from poise.audit import AuditRecord, SQLiteAuditStore
from poise.cli.audit import app
from poise.errors import AuditError

runner = CliRunner()


def fill(db_path: Path, n: int = 3) -> None:
    store = SQLiteAuditStore(db_path)
    store.append_sync([AuditRecord(kind="turn", name="model", session_id="s1") for _ in range(n)])
    store.close()


def test_verify_ok_exits_0(db_path: Path) -> None:
    fill(db_path)
    result = runner.invoke(app, ["verify", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "3 record(s)" in result.output


def test_verify_tampered_exits_1_naming_the_record(db_path: Path) -> None:
    fill(db_path)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("DROP TRIGGER audit_records_no_delete")
    db.execute("DELETE FROM audit_records WHERE seq = 2")
    db.close()
    result = runner.invoke(app, ["verify", "--db", str(db_path)])
    assert result.exit_code == 1
    assert "TAMPERED" in result.output and "seq 3" in result.output and "gap" in result.output


def test_verify_json(db_path: Path) -> None:
    fill(db_path)
    result = runner.invoke(app, ["verify", "--db", str(db_path), "--json", "--tenant", "default"])
    assert result.exit_code == 0
    assert json.loads(result.output)["ok"] is True


def test_verify_uses_poise_home_by_default(tmp_path: Path) -> None:
    fill(tmp_path / "poise-home" / "audit.db", 1)
    assert runner.invoke(app, ["verify"]).exit_code == 0


def test_missing_database_raises_audit_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "--db", str(tmp_path / "none.db")])
    assert isinstance(result.exception, AuditError)


def test_tail(db_path: Path) -> None:
    fill(db_path, 5)
    result = runner.invoke(app, ["tail", "-n", "2", "--db", str(db_path)])
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == 2 and "default#5" in result.output
    as_json = runner.invoke(app, ["tail", "-n", "2", "--json", "--db", str(db_path)])
    assert [json.loads(line)["seq"] for line in as_json.output.splitlines()] == [4, 5]


def test_export(db_path: Path, tmp_path: Path) -> None:
    fill(db_path, 4)
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["export", "--out", str(out), "--db", str(db_path), "--tenant", "default"])
    assert result.exit_code == 0
    assert len(out.read_text().splitlines()) == 4
