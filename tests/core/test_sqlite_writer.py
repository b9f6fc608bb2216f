"""The embedded database's writers queue in the process, one at a time, first come first served:
none waits out SQLite's busy timeout, a cancelled holder or waiter frees the queue, readers never
queue, and a write that waits too long is a lock timeout (busy, 503), not a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from consult.db import configure_sqlite, is_lock_timeout, make_engine
from consult.sqlite_writer import WriterQueue
from tests.conftest import eventually

BUSY_S = 0.2  # SQLite's own wait: far shorter than the bursts below take


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", busy_timeout_s=BUSY_S)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    yield engine
    await engine.dispose()


async def queued(tmp_path: Path, wait_s: float = 30.0) -> tuple[AsyncEngine, WriterQueue]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    queue = configure_sqlite(engine, busy_timeout_s=BUSY_S, writer_wait_s=wait_s)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    return engine, queue


async def write(
    engine: AsyncEngine, who: str, hold: asyncio.Event | None = None, work_s: float = 0.0
) -> None:
    """One transaction: a read, a write, ``work_s`` of other work (or held open until
    ``hold``), another write."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT count(*) FROM t"))
        await conn.execute(text("INSERT INTO t (who) VALUES (:w)"), {"w": who})
        if hold is not None:
            await hold.wait()
        else:
            await asyncio.sleep(work_s)  # the others run while this one is in its transaction
        await conn.execute(text("INSERT INTO t (who) VALUES (:w)"), {"w": who + "'"})


async def rows(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return [str(r[0]) for r in await conn.execute(text("SELECT who FROM t ORDER BY id"))]


async def test_a_burst_of_writers_all_commit(engine: AsyncEngine) -> None:
    """60 writers on 15 pooled connections, each 20 ms in its transaction: left to SQLite's
    polling with a 0.2 s busy timeout, many would fail "database is locked"."""
    await asyncio.gather(*(write(engine, f"w{i}", work_s=0.02) for i in range(60)))
    assert len(await rows(engine)) == 120


async def test_writers_go_in_arrival_order_and_reads_do_not_wait(tmp_path: Path) -> None:
    engine, queue = await queued(tmp_path)
    hold = asyncio.Event()
    first = asyncio.create_task(write(engine, "a", hold))
    await eventually(lambda: queue.writing() == 1)
    later = []
    for n, who in enumerate(("b", "c", "d"), start=1):
        later.append(asyncio.create_task(write(engine, who)))
        await eventually(lambda n=n: queue.waiting() == n)  # queued before the next one starts
    assert await rows(engine) == []  # a reader, while a writer holds the queue
    hold.set()
    await asyncio.gather(first, *later)
    assert await rows(engine) == ["a", "a'", "b", "b'", "c", "c'", "d", "d'"]
    await engine.dispose()


async def test_a_cancelled_holder_and_a_cancelled_waiter_free_the_queue(tmp_path: Path) -> None:
    engine, queue = await queued(tmp_path)
    holder = asyncio.create_task(write(engine, "holder", asyncio.Event()))  # never let go
    await eventually(lambda: queue.writing() == 1)
    waiter = asyncio.create_task(write(engine, "waiter"))
    await eventually(lambda: queue.waiting() == 1)
    waiter.cancel()
    await eventually(lambda: queue.waiting() == 0)
    holder.cancel()
    for task in (holder, waiter):
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.wait_for(write(engine, "after"), timeout=5)
    assert await rows(engine) == ["after", "after'"]  # nothing of the cancelled ones kept
    await engine.dispose()


async def test_a_write_that_waits_too_long_is_a_lock_timeout(tmp_path: Path) -> None:
    engine, queue = await queued(tmp_path, wait_s=0.3)
    hold = asyncio.Event()
    holder = asyncio.create_task(write(engine, "holder", hold))
    await eventually(lambda: queue.writing() == 1)
    with pytest.raises(OperationalError) as refused:
        await write(engine, "late")
    assert is_lock_timeout(refused.value)
    hold.set()
    await holder
    assert await rows(engine) == ["holder", "holder'"]
    await engine.dispose()
