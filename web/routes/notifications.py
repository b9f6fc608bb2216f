"""Notifications: the stored list, and the live WebSocket ``/api/v1/events``."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from consult import notifications, people
from consult.models import Notification
from web import keys
from web.api import Call, Endpoints
from web.schemas import NotificationOut, NotificationQuery
from web.session_watch import CLOSE_SESSION_ENDED, SessionEnd, session_end

logger = logging.getLogger(__name__)
endpoints = Endpoints("notifications")
HEARTBEAT = 25.0


@endpoints.get(
    "/api/v1/notifications",
    summary="The caller's notifications, newest first",
    query=NotificationQuery,
    response=list[NotificationOut],
    aggregate=True,
)
async def list_notifications(call: Call) -> list[Notification]:
    async with call.work() as work:
        return await notifications.list_mine(work, unread_only=call.query.unread)


@endpoints.post(r"/api/v1/notifications/{id:\d+}/read", summary="Mark a notification read")
async def mark_read(call: Call) -> None:
    async with call.work() as work:
        await notifications.mark_read(work, call.path_int("id"))


@endpoints.get(
    "/api/v1/events",
    summary="WebSocket of live events for the caller (token as Bearer header or ?access_token=)",
)
async def events(call: Call) -> web.WebSocketResponse:
    principal = call.principal
    bus = call.center.bus
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT)
    await ws.prepare(call.request)
    queue = bus.subscribe(principal.user_id)
    ended = asyncio.create_task(
        session_end(call.center, call.request[keys.TOKEN], principal.user_id)
    )
    stopping = asyncio.create_task(call.request.app[keys.STOPPING].wait())
    await ws.send_str(json.dumps({"type": "hello", "user": principal.username}))
    reader = asyncio.create_task(_drain(ws))
    try:
        while not ws.closed:
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait(
                {getter, reader, ended, stopping}, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                break
            event = getter.result()
            if event.kind != people.SESSION_ENDED:  # for the server's sockets, not the page
                await _audit_delivery(call, event.kind, event.payload)  # audited, then sent
                await ws.send_str(
                    json.dumps({"type": event.kind, **event.payload}, ensure_ascii=False)
                )
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        bus.unsubscribe(principal.user_id, queue)
        reader.cancel()
        code, reason = _close_reason(ended, stopping)
        await ws.close(code=code, message=reason)
    return ws


async def _audit_delivery(call: Call, kind: str, payload: dict[str, Any]) -> None:
    """The event reached the caller: a read of the patients it names, audited like the list."""
    async with call.center.work(call.principal, client=call.client) as work:
        await notifications.audit_delivery(work, kind, payload)


def _close_reason(
    ended: asyncio.Task[SessionEnd], stopping: asyncio.Task[bool]
) -> tuple[int, bytes]:
    """Session ended: 4xxx with the reason; server stopping: 1001 (going away); else 1000."""
    going_away = stopping.done() and not stopping.cancelled()
    stopping.cancel()
    if ended.done() and not ended.cancelled() and ended.exception() is None:
        return CLOSE_SESSION_ENDED, f"session {ended.result().value}".encode()
    ended.cancel()
    if going_away:
        return WSCloseCode.GOING_AWAY, b"server shutting down"
    return WSCloseCode.OK, b""


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so that close frames are seen."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break
