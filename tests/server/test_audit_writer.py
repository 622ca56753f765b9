"""The audit writer: background group commit whose backlog stays bounded when answers outrun it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from poise.audit import AuditRecord
from poise.errors import AuditError
from poise.server.audit import AuditWriter, request_record


class GatedStore:
    """A store whose appends wait for ``open`` (or fail with ``error``): a slow disk on demand."""

    def __init__(self, error: Exception | None = None) -> None:
        self.open = asyncio.Event()
        self.error = error
        self.stored: list[AuditRecord] = []

    async def append(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        await self.open.wait()
        if self.error is not None:
            raise self.error
        self.stored.extend(records)
        return list(records)

    async def aclose(self) -> None:
        pass


def _record(i: int) -> AuditRecord:
    return request_record(
        tenant="acme", kind="completion", model="bank", key_id=None, request_id=f"req_{i}", status=200,
        latency_ms=1.0,
    )  # fmt: skip


async def _finishes(coro: object, seconds: float = 0.05) -> bool:
    try:
        await asyncio.wait_for(coro, seconds)  # type: ignore[arg-type]
    except TimeoutError:
        return False
    return True


async def test_writes_return_at_once_until_the_backlog_reaches_max_pending():
    store = GatedStore()
    writer = AuditWriter(store, max_pending=2)  # type: ignore[arg-type]
    writer.start()
    assert not writer.must_wait
    assert await _finishes(writer.write(_record(1)))
    assert await _finishes(writer.write(_record(2)))
    assert writer.must_wait  # two records wait for the store: the next answer waits for its own
    third = asyncio.ensure_future(writer.write(_record(3)))
    assert not await _finishes(asyncio.shield(third))
    store.open.set()
    assert await _finishes(third, 1.0)
    await writer.flush()
    assert [r.data["request_id"] for r in store.stored] == ["req_1", "req_2", "req_3"]
    assert not writer.must_wait
    await writer.aclose()


async def test_a_failed_append_is_counted_not_raised_when_a_congested_write_waits():
    store = GatedStore(error=AuditError("disk full"))
    writer = AuditWriter(store, max_pending=1)  # type: ignore[arg-type]
    writer.start()
    await writer.write(_record(1))
    congested = asyncio.ensure_future(writer.write(_record(2)))
    store.open.set()
    assert await _finishes(congested, 1.0)
    congested.result()  # no AuditError: without audit.wait the answer never depends on the store
    await writer.flush()
    assert writer.failures >= 1
    await writer.aclose()


@pytest.mark.parametrize("wait", [True, False], ids=["wait", "background"])
async def test_wait_mode_always_waits_and_raises(wait):
    store = GatedStore(error=AuditError("disk full"))
    store.open.set()
    writer = AuditWriter(store, wait=wait)  # type: ignore[arg-type]
    writer.start()
    assert writer.must_wait is wait
    if wait:
        with pytest.raises(AuditError):
            await writer.write(_record(1))
    else:
        await writer.write(_record(1))
        await writer.flush()
        assert writer.failures == 1
    await writer.aclose()
