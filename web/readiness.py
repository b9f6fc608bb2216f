"""``/readyz``: whether this node can serve now (a load balancer takes it out of rotation when
not). ``/healthz`` stays the liveness probe.

Checked: the database (``SELECT 1``), the DICOM and MLLP listeners when configured (still
listening), the Redis event broker when configured (``PING``); each within a short timeout. The
answer names each check and says ``ok`` or ``failed``, nothing more (no addresses, no errors:
those go to the log).
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy import text

from web import keys
from web.imaging_wiring import NODE
from web.lab_wiring import LAB

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 2.0
OK, FAILED = "ok", "failed"


async def database_ready(app: web.Application) -> bool:
    async with asyncio.timeout(CHECK_TIMEOUT_S):
        async with app[keys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
    return True


async def redis_ready(url: str) -> bool:
    client = aioredis.from_url(
        url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
    )
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return bool(await client.ping())
    finally:
        await client.aclose()


def dicom_ready(app: web.Application) -> bool:
    node = app.get(NODE)
    return node is not None and node.listening()


def mllp_ready(app: web.Application) -> bool:
    runtime = app.get(LAB)
    return runtime is not None and runtime.listener is not None and runtime.listener.listening()


async def _outcome(name: str, check: asyncio.Future[bool] | bool) -> str:
    try:
        ok = check if isinstance(check, bool) else await check
    except Exception as exc:  # a probe's boundary: any failure is "not ready"
        logger.warning("readiness: %s failed (%s: %s)", name, type(exc).__name__, exc)
        return FAILED
    if not ok:
        logger.warning("readiness: %s failed", name)
    return OK if ok else FAILED


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    settings = app[keys.SETTINGS]
    checks: dict[str, asyncio.Future[bool] | bool] = {
        "database": asyncio.ensure_future(database_ready(app))
    }
    if settings.dicom_port:
        checks["dicom"] = dicom_ready(app)
    if settings.mllp_port:
        checks["mllp"] = mllp_ready(app)
    if settings.events_url:
        checks["redis"] = asyncio.ensure_future(redis_ready(settings.events_url))
    results = {name: await _outcome(name, check) for name, check in checks.items()}
    failed = sorted(name for name, outcome in results.items() if outcome != OK)
    body: dict[str, object] = {"status": "not_ready" if failed else "ready", "checks": results}
    if failed:
        body["failed"] = failed
    return web.json_response(body, status=503 if failed else 200)
