"""``poise audit …``: verify, tail and export the tamper-evident audit trail.

``verify`` exits 0 when every chain is intact and 1 when any record was edited, removed,
inserted or reordered (or the append-only triggers were dropped), naming the first bad record.
A missing database is an :class:`~poise.errors.AuditError` (exit 2 through the CLI boundary).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from poise.audit import AuditRecord, SQLiteAuditStore, VerifyReport
from poise.audit.postgres import PostgresAuditStore, is_postgres_url

app = typer.Typer(help="Verify, tail and export the audit trail.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLite file or postgresql://user@host/db (default: $POISE_HOME/audit.db)."),
]
TenantOption = Annotated[str | None, typer.Option("--tenant", help="Only this tenant's chain.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _open(db: str | None) -> SQLiteAuditStore | PostgresAuditStore:
    if is_postgres_url(db):
        assert db is not None
        return PostgresAuditStore(db, create=False)
    return SQLiteAuditStore(Path(db) if db else None, create=False)


def _run_verify(db: str | None, tenant: str | None) -> VerifyReport:
    store = _open(db)
    try:
        return asyncio.run(store.verify(tenant))
    finally:
        store.close()


@app.command("verify")
def verify(db: DbOption = None, tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Recompute every hash and link; exit 1 if the trail was tampered with."""
    report = _run_verify(db, tenant)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for t in report.tenants:
            console.print(
                f"{escape(t.tenant)}: {t.records} record(s), head seq {t.head_seq} {t.head_hash[:16]}…",
                highlight=False,
            )
        if report.ok:
            console.print(f"[green]ok[/]: {report.records} record(s) verified", highlight=False)
    if not report.ok:
        for problem in report.problems:
            err_console.print(
                f"[bold red]TAMPERED[/] {escape(str(problem))}", highlight=False, soft_wrap=True
            )
        raise typer.Exit(1)


def _line(rec: AuditRecord) -> str:
    parts = [
        rec.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
        f"{rec.tenant}#{rec.seq}",
        rec.kind,
        rec.name or "-",
        rec.action or "-",
    ]
    if rec.score is not None:
        parts.append(f"score={rec.score:.2f}")
    if rec.categories:
        parts.append(",".join(rec.categories))
    if rec.session_id:
        parts.append(f"session={rec.session_id}")
    return "  ".join(parts)


@app.command("tail")
def tail(
    n: Annotated[int, typer.Option("-n", "--lines", min=1, help="How many records.")] = 20,
    db: DbOption = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the most recent records, oldest first."""
    store = _open(db)
    try:
        records = asyncio.run(store.tail(n, tenant=tenant))
    finally:
        store.close()
    for rec in records:
        typer.echo(json.dumps(rec.body(), ensure_ascii=False) if as_json else _line(rec))


@app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write (one record per line).")],
    db: DbOption = None,
    tenant: TenantOption = None,
) -> None:
    """Write the trail, hashes included, to a JSONL file that can be verified elsewhere."""
    store = _open(db)
    try:
        count = asyncio.run(store.export(out, tenant=tenant))
    finally:
        store.close()
    err_console.print(f"exported {count} record(s) to {escape(str(out))}", highlight=False)
