"""Check a hash chain of audit records, from any source (a store, an exported JSONL file).

:func:`verify_chain` is pure: it walks one tenant's records in ``seq`` order and stops at the
first record that does not fit, saying why. Each check catches a kind of tampering:

=============  ===========================================================================
``unreadable`` the stored row is not a valid record
``order``      the row's position does not match the ``seq`` inside its hashed body (moved)
``gap``        ``seq`` does not follow on from the previous record (deleted or inserted)
``link``       ``prev_hash`` is not the previous record's hash (deleted, inserted, reordered)
``altered``    the content does not hash to the stored ``hash`` (edited)
``head``       the chain ends elsewhere than the store's recorded head (tail cut or extended)
``triggers``   the append-only triggers are missing from the database
=============  ===========================================================================

A chain proves *internal* consistency. Someone who can rewrite the whole database can also
recompute every hash; anchor the head (:attr:`TenantSummary.head_hash`) outside the database
(a ticket, a WORM bucket, a signed e-mail) to detect that too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from poise.audit.record import GENESIS_HASH, compute_hash

__all__ = [
    "ChainCheck",
    "ChainHead",
    "ChainRow",
    "ProblemKind",
    "TenantSummary",
    "VerifyProblem",
    "VerifyReport",
    "verify_chain",
    "verify_jsonl",
]

ProblemKind = Literal["unreadable", "order", "gap", "link", "altered", "head", "triggers"]


@dataclass(frozen=True)
class VerifyProblem:
    """The first record of a chain that does not fit, and why."""

    kind: ProblemKind
    reason: str
    tenant: str | None = None
    seq: int | None = None
    record_id: str | None = None

    def __str__(self) -> str:
        where = f"tenant {self.tenant!r}" if self.tenant is not None else "store"
        if self.seq is not None:
            where += f", seq {self.seq}"
        if self.record_id:
            where += f" (id {self.record_id})"
        return f"{where}: {self.kind}: {self.reason}"


@dataclass(frozen=True)
class ChainRow:
    """One stored record as :func:`verify_chain` reads it.

    Attributes:
        position: the ``seq`` the row is stored under (``None`` for an export line).
        body: the parsed record body (any JSON value; a non-record is reported ``unreadable``).
        stored_hash: a separately stored hash column, when the store has one.
    """

    position: int | None
    body: Any
    stored_hash: str | None = None


@dataclass(frozen=True)
class ChainHead:
    """Where a store says a tenant's chain ends."""

    seq: int
    hash: str


@dataclass(frozen=True)
class TenantSummary:
    """One tenant's chain as verified: records checked and the last good hash."""

    tenant: str
    records: int
    head_seq: int
    head_hash: str


@dataclass(frozen=True)
class VerifyReport:
    """The result of verifying one or more chains; ``ok`` when no problem was found."""

    tenants: tuple[TenantSummary, ...]
    problems: tuple[VerifyProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def records(self) -> int:
        return sum(t.records for t in self.tenants)

    @property
    def first_problem(self) -> VerifyProblem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``poise audit verify --json``)."""
        return {
            "ok": self.ok,
            "records": self.records,
            "tenants": [t.__dict__ for t in self.tenants],
            "problems": [p.__dict__ for p in self.problems],
        }


@dataclass(frozen=True)
class ChainCheck:
    """The result of :func:`verify_chain` for one tenant."""

    summary: TenantSummary
    problem: VerifyProblem | None


def _check_one(
    tenant: str, position: int | None, body: Any, expected_seq: int, prev_hash: str, stored_hash: str | None
) -> VerifyProblem | str:
    """The problem with one record, or its hash when it fits."""
    if not isinstance(body, Mapping) or not isinstance(body.get("seq"), int):
        return VerifyProblem("unreadable", "the row is not a valid audit record", tenant, position)
    seq: int = body["seq"]
    rid = str(body.get("id", "")) or None
    if body.get("tenant") != tenant or (position is not None and position != seq):
        return VerifyProblem(
            "order",
            f"row stored at {tenant!r}/{position} holds record {body.get('tenant')!r}/{seq} (moved)",
            tenant,
            position,
            rid,
        )
    if seq != expected_seq:
        what = "missing (deleted?)" if seq > expected_seq else "repeated or inserted"
        reason = f"expected seq {expected_seq}, found {seq}: records {what}"
        return VerifyProblem("gap", reason, tenant, seq, rid)
    if body.get("prev_hash") != prev_hash:
        return VerifyProblem(
            "link",
            f"prev_hash {str(body.get('prev_hash'))[:12]}… does not match the previous record's hash "
            f"{prev_hash[:12]}… (a record before it was removed, inserted or reordered)",
            tenant,
            seq,
            rid,
        )
    try:
        actual = compute_hash(body)
    except (TypeError, ValueError):
        return VerifyProblem("unreadable", "the record cannot be serialised canonically", tenant, seq, rid)
    claimed = body.get("hash")
    if actual != claimed or (stored_hash is not None and stored_hash != claimed):
        return VerifyProblem(
            "altered", "content does not match its hash (the record was edited)", tenant, seq, rid
        )
    return actual


def verify_chain(
    tenant: str,
    rows: Iterable[ChainRow],
    *,
    head: ChainHead | None = None,
) -> ChainCheck:
    """Walk one tenant's chain and stop at the first record that does not fit.

    Args:
        tenant: the chain's tenant.
        rows: the records in storage order.
        head: where the store says the chain ends; checked after the last record.
    """
    expected, prev, count = 1, GENESIS_HASH, 0
    for row in rows:
        result = _check_one(tenant, row.position, row.body, expected, prev, row.stored_hash)
        if isinstance(result, VerifyProblem):
            return ChainCheck(TenantSummary(tenant, count, expected - 1, prev), result)
        prev, expected, count = result, expected + 1, count + 1
    summary = TenantSummary(tenant, count, expected - 1, prev)
    if head is not None and (head.seq, head.hash) != (expected - 1, prev):
        problem = VerifyProblem(
            "head",
            f"the chain ends at seq {expected - 1} but the store's head is seq {head.seq} "
            "(records were cut from or added to the end)",
            tenant,
            expected - 1 if expected > 1 else None,
        )
        return ChainCheck(summary, problem)
    return ChainCheck(summary, None)


def verify_jsonl(path: Path | str) -> VerifyReport:
    """Verify an export written by :meth:`AuditStore.export <poise.audit.AuditStore.export>`.

    Every tenant's chain must be complete from ``seq`` 1 (export whole tenants). Without the
    store's head, a cut-off tail is only caught by comparing :attr:`TenantSummary.head_hash`
    with an anchor kept elsewhere.
    """
    chains: dict[str, list[ChainRow]] = {}
    problems: list[VerifyProblem] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                body = json.loads(line)
            except ValueError:
                body = None
            if not isinstance(body, Mapping) or not isinstance(body.get("tenant"), str):
                problems.append(VerifyProblem("unreadable", f"line {number} is not an audit record"))
                continue
            chains.setdefault(body["tenant"], []).append(ChainRow(None, body))
    summaries = []
    for tenant in sorted(chains):
        check = verify_chain(tenant, chains[tenant])
        summaries.append(check.summary)
        if check.problem is not None:
            problems.append(check.problem)
    return VerifyReport(tuple(summaries), tuple(problems))
