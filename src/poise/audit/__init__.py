"""A tamper-evident audit trail: what poise did, provably.

Every step of a request (rail, decision, turn, error) is an :class:`AuditRecord`. Records are
scrubbed of secrets and personal data (:func:`scrub_record`), keep only digests of the texts
they are about, and are chained per tenant by SHA-256 so that :meth:`AuditStore.verify` detects
any edit, deletion, insertion or reordering. :class:`SQLiteAuditStore` is the built-in store
(:class:`PostgresAuditStore` the shared one, with the ``server`` extra)::

    store = SQLiteAuditStore()                      # $POISE_HOME/audit.db
    [stored] = await store.append([AuditRecord(kind="decision", name="pii", action="redact")])
    report = await store.verify()
    assert report.ok
"""

from poise.audit.postgres import PostgresAuditStore
from poise.audit.record import GENESIS_HASH, Action, AuditRecord, AuditSpan, canonical_json, sha256_text
from poise.audit.scrub import scrub_data, scrub_record, scrub_text
from poise.audit.sqlite import SQLiteAuditStore, default_audit_path
from poise.audit.store import AuditStore, ExportFormat
from poise.audit.verify import (
    ChainHead,
    ChainRow,
    ProblemKind,
    TenantSummary,
    VerifyProblem,
    VerifyReport,
    verify_chain,
    verify_jsonl,
)

__all__ = [
    "GENESIS_HASH",
    "Action",
    "AuditRecord",
    "AuditSpan",
    "AuditStore",
    "ChainHead",
    "ChainRow",
    "ExportFormat",
    "PostgresAuditStore",
    "ProblemKind",
    "SQLiteAuditStore",
    "TenantSummary",
    "VerifyProblem",
    "VerifyReport",
    "canonical_json",
    "default_audit_path",
    "scrub_data",
    "scrub_record",
    "scrub_text",
    "sha256_text",
    "verify_chain",
    "verify_jsonl",
]
