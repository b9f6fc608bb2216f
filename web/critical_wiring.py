"""Wiring of the critical alerts: the escalation loop, as a ``cleanup_ctx`` generator (after the
database's), one node a round. It runs on the center's clock, which tests move."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from consult import critical
from web import keys
from web.background import every

logger = logging.getLogger(__name__)


async def critical_ctx(app: web.Application) -> AsyncIterator[None]:
    """Every ``critical_check_seconds``, escalate the alerts left unacknowledged too long."""
    center, settings = app[keys.CENTER], app[keys.SETTINGS]
    interval, ack_minutes = settings.critical_check_seconds, settings.critical_ack_minutes

    async def escalate() -> None:
        async with center.work(client="critical-escalation") as work:
            await critical.escalate_overdue(work, ack_minutes)

    task = every(interval, "critical-escalation", escalate, app[keys.ENGINE])
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
