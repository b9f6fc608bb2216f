"""Periodic background jobs of a node, each round run by one node of the center at a time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from consult.leases import exclusive

logger = logging.getLogger(__name__)


def every(
    seconds: float, job: str, run: Callable[[], Awaitable[object]], engine: AsyncEngine
) -> asyncio.Task[None]:
    """Run ``run()`` every ``seconds`` under the center-wide lease named ``job``."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                async with exclusive(engine, job) as mine:
                    if mine:
                        await run()
            except Exception:  # a background task at the boundary: log and carry on
                logger.exception("%s failed", job)

    return asyncio.create_task(loop(), name=job)
