"""One audit record per request, written with group commit.

A request's record is handed to :class:`AuditWriter`, which appends every record queued at that
moment in one store transaction (one fsync for many requests). With ``audit.wait: true`` a
request answers only after its record is durable, so an answered request always has its record
even if the process is killed right after; by default the record is committed in the background
a few milliseconds after the answer (a disk sync costs 4-12 ms here, more than the whole gateway
budget). Either way a record the store acknowledged is never lost (``docs/design/gateway.md``).

The background lag stays bounded: when answers outrun the store (an overloaded gateway answers
faster than the writer thread, which shares the GIL with it, can chain and commit), once
``max_pending`` records are queued requests answer after their commit, as with ``wait: true``,
until the backlog drains. A failed append is still only logged then, as the background path does.

:func:`request_record` builds the record: digests of the texts, never the texts; the key's
configured id, never the key; reasons and categories, which the store scrubs again on append.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from poise.audit import AuditRecord, AuditStore
from poise.audit.record import sha256_text
from poise.guard.pipeline import GuardVerdict
from poise.guard.policy import severity

__all__ = ["AuditWriter", "request_record"]

log = logging.getLogger("poise.server")


class AuditWriter:
    """Serialises appends to an :class:`AuditStore`, batching records that arrive together."""

    def __init__(
        self, store: AuditStore, *, wait: bool = False, max_batch: int = 256, max_pending: int = 64
    ) -> None:
        self.store = store
        self.wait = wait
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._queue: asyncio.Queue[tuple[AuditRecord, asyncio.Future[None]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending = 0
        self.failures = 0

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="poise-audit-writer")

    @property
    def congested(self) -> bool:
        """``max_pending`` records or more wait for the store (see the module docstring)."""
        return self._pending >= self.max_pending

    @property
    def must_wait(self) -> bool:
        """Whether an answer should wait for its record: with ``wait``, or while congested."""
        return self.wait or self.congested

    async def write(self, record: AuditRecord) -> None:
        """Queue ``record``; with ``wait``, return once it is durably stored (raises AuditError
        on failure), otherwise at once (a failure is logged and counted in :attr:`failures`),
        or, over the backlog bound, once the store has answered."""
        if self._queue is None:
            await self.store.append([record])
            return
        congested = self.congested
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((record, done))
        self._pending += 1
        if self.wait:
            await asyncio.shield(done)
            return
        done.add_done_callback(_consume)
        if congested:  # pace the caller to the store; the outcome is handled as in the background
            await asyncio.wait([done])

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < self.max_batch:
                batch.append(queue.get_nowait())
            try:
                await self.store.append([rec for rec, _ in batch])
            except Exception as exc:  # the store's typed AuditError, or a bug: tell every waiter
                self.failures += 1
                log.error("audit append failed: %s", exc)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
            self._pending -= len(batch)

    async def flush(self) -> None:
        """Wait until every record queued so far is committed (or has failed)."""
        while self._pending > 0 and self._task is not None and not self._task.done():
            await asyncio.sleep(0.002)

    async def aclose(self) -> None:
        """Write what is queued, stop, and close the store."""
        if self._task is not None and self._queue is not None:
            await self.flush()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.store.aclose()


def _consume(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # already logged by the writer; retrieving it silences asyncio


def _verdict_facts(verdict: GuardVerdict | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {
        "action": verdict.action,
        "reasons": [r.code for r in verdict.reasons],
        "latency_ms": round(verdict.latency_ms, 3),
        "errors": [r.rail for r in verdict.errors],
    }


def request_record(
    *,
    tenant: str,
    kind: str,
    model: str | None,
    key_id: str | None,
    request_id: str,
    status: int,
    latency_ms: float,
    session_id: str | None = None,
    persona_id: str | None = None,
    persona_version: str | None = None,
    input_text: str | None = None,
    output_text: str | None = None,
    input_verdict: GuardVerdict | None = None,
    output_verdict: GuardVerdict | None = None,
    finish_reason: str | None = None,
    usage: dict[str, int] | None = None,
    stream: bool = False,
    error_code: str | None = None,
    tool_calls: int = 0,
    discarded_call: bool = False,
) -> AuditRecord:
    """The one record of a request (see the module docstring for what it keeps)."""
    verdicts = [v for v in (input_verdict, output_verdict) if v is not None]
    action = max((v.action for v in verdicts), key=severity) if verdicts else None  # type: ignore[arg-type]
    reasons = tuple(dict.fromkeys(r.code for v in verdicts for r in v.reasons))
    categories = tuple(dict.fromkeys(r.category for v in verdicts for r in v.reasons if r.category))
    data: dict[str, Any] = {
        "request_id": request_id,
        "model": model,
        "key_id": key_id,
        "status": status,
        "stream": stream,
        "finish_reason": finish_reason,
        "usage": usage,
        # Not "input"/"output": the scrubber digests entries under raw-text names like those.
        "input_rails": _verdict_facts(input_verdict),
        "output_rails": _verdict_facts(output_verdict),
    }
    if error_code:
        data["error_code"] = error_code
    if tool_calls:
        data["tool_calls"] = tool_calls
    if discarded_call:  # input_rails: parallel called the model before the rails refused or redacted
        data["discarded_model_call"] = True
    return AuditRecord(
        tenant=tenant,
        kind=kind,
        name=model,
        session_id=session_id,
        action=action,
        categories=categories,
        reasons=reasons,
        latency_ms=round(latency_ms, 3),
        persona_id=persona_id,
        persona_version=persona_version,
        input_sha256=sha256_text(input_text) if input_text is not None else None,
        output_sha256=sha256_text(output_text) if output_text is not None else None,
        data=data,
    )
