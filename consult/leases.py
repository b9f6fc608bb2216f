"""Background work that must run on one node at a time.

Overdue flagging, critical-result escalation, the LIS outbox and the audit sealer may run in every
node of a center, but each round must run on one node only, or alerts and messages would go out
once per node. On PostgreSQL a round holds a session-level advisory lock named after the job on a
connection of its own, taken without waiting: a node that finds it held skips the round, and the
lock goes with the connection if the node dies. SQLite serves one node, which always holds it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)


def lock_key(job: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``job``."""
    digest = hashlib.sha256(f"telecenter:{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def exclusive(engine: AsyncEngine, job: str) -> AsyncIterator[bool]:
    """Yield whether this node holds ``job`` for the block (never waits for another node)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(job)
    async with engine.connect() as conn:
        held = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        await conn.commit()
        try:
            yield held
        finally:
            if held:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()
        if not held:
            logger.debug("%s runs on another node this round", job)
