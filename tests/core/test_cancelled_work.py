"""A unit of work cancelled mid-statement releases the database at once.

A request whose client goes away, a timeout or a shutdown cancels the task while its transaction
holds the write lock. On SQLite the connection used to be dropped without a rollback and linger,
lock held, until garbage collection: every later write waited out ``busy_timeout`` (10 s) and
failed with "database is locked", sign-ins included.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from sqlalchemy import func, select

from consult.models import AuditRecord
from tests.conftest import Api

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

ROUNDS = 25
PROMPT = 2.0  # s; the lock timeout is 10 s


async def _doomed(api: Api, started: asyncio.Event, round_: int) -> None:
    async with api.center.work() as work:
        work.audit("test.cancelled", round=round_)
        work.session.add_all(work.audits)  # written now, not at commit:
        await work.session.flush()  # the write lock is taken here
        started.set()
        while True:  # statements in flight when the cancellation comes
            await work.session.scalar(select(func.count()).select_from(AuditRecord))


async def _timed_write(api: Api, round_: int) -> float:
    started = time.monotonic()
    async with api.center.work() as work:
        work.audit("test.after", round=round_)
    return time.monotonic() - started


async def test_a_cancelled_unit_of_work_leaves_no_lock_and_no_write(api: Api) -> None:
    slow = []
    for round_ in range(ROUNDS):
        started = asyncio.Event()
        task = asyncio.create_task(_doomed(api, started, round_))
        await started.wait()
        await asyncio.sleep(round_ % 5 * 0.002)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if (elapsed := await _timed_write(api, round_)) > PROMPT:
            slow.append((round_, round(elapsed, 1)))
    assert not slow, f"writes after a cancelled unit of work waited (round, s): {slow}"
    async with api.center.work() as work:
        actions = list(await work.session.scalars(select(AuditRecord.action)))
    assert "test.cancelled" not in actions
    assert actions.count("test.after") == ROUNDS
