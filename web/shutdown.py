"""A stopping server (SIGTERM, SIGINT): goodbye on every socket, listeners closed, in bounds.

aiohttp stops the HTTP listener, runs ``on_shutdown`` (:func:`stop_serving`), waits up to
``http_stop_grace_seconds`` for the requests still running, then runs the cleanup contexts. The
room and events sockets would hold that wait to its end, and the DICOM and MLLP listeners would
keep taking work until their cleanup context: so they are all told here, together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

from aiohttp import web

from web import keys
from web.imaging_wiring import NODE
from web.lab_wiring import LAB
from web.rooms_wiring import ROOM_SOCKETS, ROOMS

logger = logging.getLogger(__name__)


async def stop_serving(app: web.Application) -> None:
    """Rooms end with ``bye`` ``shutdown``, events sockets close with 1001 (going away), the
    DICOM node stops accepting and bounds its running associations, the MLLP listener closes."""
    started = time.monotonic()
    app[keys.STOPPING].set()  # the events sockets watch this
    parts: dict[str, Awaitable[None]] = {"rooms": _close_rooms(app)}
    if (node := app.get(NODE)) is not None:
        parts["dicom"] = node.stop()
    if (lab := app.get(LAB)) is not None and lab.listener is not None:
        parts["mllp"] = lab.listener.stop()
    results = await asyncio.gather(*parts.values(), return_exceptions=True)
    for name, result in zip(parts, results, strict=True):
        if isinstance(result, BaseException):  # one part failing must not keep the rest up
            logger.error("shutdown: stopping %s failed: %r", name, result)
    logger.info("shutdown: sockets and listeners closed in %.2f s", time.monotonic() - started)


async def _close_rooms(app: web.Application) -> None:
    registry, sockets = app.get(ROOMS), app.get(ROOM_SOCKETS)
    if registry is not None:
        await registry.close()  # participants get bye shutdown, peer connections close
    if sockets is not None:
        await sockets.close_all()  # sockets that had not joined yet
