"""Consult rooms on a center of several nodes.

A room's media (its SFU) lives on one node at a time. That node holds the room's lease, a Redis
key naming the node's internal URL (``node_url``), and renews it while the room lives. A
participant whose signaling WebSocket reaches another node is relayed: that node opens the same
WebSocket to the owner with the participant's credentials and pipes messages both ways, so the
client needs to know nothing of nodes (its media goes to the owner's ICE candidates directly).
When the owner cannot be reached, the relaying node clears the dead owner's lease, closes the
participant's socket (code 1012, "service restart"), and the participant's rejoin lands on a node
that re-creates the room. See signaling/PROTOCOL.md, "Several nodes".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from signaling.rooms import RoomRegistry
from web.redis_bus import BROKER_ERRORS

logger = logging.getLogger(__name__)

RELAYED = "X-Telecenter-Relayed"
"""Set on a relayed connection: the owner serves it itself and never relays it again."""
FORWARDED_HEADERS = ("Authorization", "Cookie", "Origin", "Sec-WebSocket-Protocol")
SERVICE_RESTART = 1012
MAX_MESSAGE = 256 * 1024

# Renew the lease only while it is still ours; delete it only if it names the given node.
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_CLEAR = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


class RoomLeases:
    """Which node hosts each room."""

    def __init__(
        self,
        url: str,
        node_url: str,
        registry: RoomRegistry,
        *,
        ttl_seconds: float = 10.0,
        prefix: str = "telecenter:room:",
    ) -> None:
        self.node_url = node_url.rstrip("/")
        self._redis = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._registry = registry
        self._ttl_ms = int(ttl_seconds * 1000)
        self._prefix = prefix
        self._held: dict[str, float] = {}  # room id -> loop time claimed
        self._task: asyncio.Task[None] | None = None

    def _key(self, room_id: str) -> str:
        return self._prefix + room_id

    async def owner_elsewhere(self, room_id: str) -> str | None:
        """The URL of the node that hosts ``room_id`` if that is not this node, else ``None``
        (this node now holds the lease, or the broker is unreachable and the room stays here)."""
        key = self._key(room_id)
        try:
            if await self._redis.set(key, self.node_url, nx=True, px=self._ttl_ms):
                self._held[room_id] = asyncio.get_running_loop().time()
                return None
            owner = await self._redis.get(key)
        except BROKER_ERRORS as exc:
            logger.warning("room lease of %s unknown (%s); hosting it here", room_id, exc)
            return None
        owner_url = owner.decode() if isinstance(owner, bytes) else owner
        if owner_url in (None, self.node_url):
            return None if owner_url else await self.owner_elsewhere(room_id)
        return str(owner_url)

    async def clear_dead_owner(self, room_id: str, owner_url: str) -> None:
        with contextlib.suppress(*BROKER_ERRORS):
            await self._redis.eval(_CLEAR, 1, self._key(room_id), owner_url)

    async def _renew_once(self) -> None:
        now = asyncio.get_running_loop().time()
        for room_id, since in list(self._held.items()):
            key = self._key(room_id)
            if self._registry.get(room_id) is not None or now - since < self._ttl_ms / 1000:
                await self._redis.eval(_RENEW, 1, key, self.node_url, self._ttl_ms)
            else:  # the room ended (or never started) here
                await self._redis.eval(_CLEAR, 1, key, self.node_url)
                del self._held[room_id]

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                await self._renew_once()
            except BROKER_ERRORS as exc:
                logger.warning("room leases not renewed: %s", exc)

    async def __aenter__(self) -> RoomLeases:
        self._task = asyncio.create_task(self._renew(), name="room-leases")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for room_id in list(self._held):
            with contextlib.suppress(*BROKER_ERRORS):
                await self._redis.eval(_CLEAR, 1, self._key(room_id), self.node_url)
        await self._redis.aclose()


def upstream_url(request: web.Request, owner_url: str) -> str:
    base = owner_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return base + request.path_qs


async def relay(
    request: web.Request,
    leases: RoomLeases,
    room_id: str,
    owner_url: str,
    stopping: asyncio.Event | None = None,
) -> web.WebSocketResponse:
    """Serve ``request``'s room WebSocket by piping it to the room's owner node; when this node
    begins to stop (``stopping``), the participant is told to rejoin (1012), and does so through
    another node to the same room."""
    stopping = stopping or asyncio.Event()
    headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
    headers[RELAYED] = leases.node_url
    down = web.WebSocketResponse(heartbeat=20.0, max_msg_size=MAX_MESSAGE)
    await down.prepare(request)
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(
                upstream_url(request, owner_url),
                headers=headers,
                heartbeat=20.0,
                max_msg_size=MAX_MESSAGE,
            ) as up:
                logger.info("room %s relayed to its node %s", room_id, owner_url)
                await _pipe(down, up, stopping)
        except (aiohttp.ClientError, OSError) as exc:
            logger.warning("room %s: relay to %s failed (%s)", room_id, owner_url, exc)
        if stopping.is_set():
            await down.close(code=SERVICE_RESTART, message=b"node stopping; rejoin")
            return down
        if not await _alive(http, owner_url):
            logger.warning("room %s: its node %s is gone; the room moves", room_id, owner_url)
            await leases.clear_dead_owner(room_id, owner_url)
    await down.close(code=SERVICE_RESTART, message=b"room moved; rejoin")
    return down


async def _alive(http: aiohttp.ClientSession, node_url: str) -> bool:
    try:
        async with http.get(node_url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
            return r.status < 500
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


async def _down_to_up(down: web.WebSocketResponse, up: aiohttp.ClientWebSocketResponse) -> None:
    async for msg in down:
        if msg.type == WSMsgType.TEXT:
            await up.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await up.send_bytes(msg.data)


async def _up_to_down(up: aiohttp.ClientWebSocketResponse, down: web.WebSocketResponse) -> None:
    async for msg in up:
        if msg.type == WSMsgType.TEXT:
            await down.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await down.send_bytes(msg.data)


async def _pipe(
    down: web.WebSocketResponse, up: aiohttp.ClientWebSocketResponse, stopping: asyncio.Event
) -> None:
    """Pipe both ways until either side closes or this node begins to stop."""
    tasks = [
        asyncio.create_task(_down_to_up(down, up)),
        asyncio.create_task(_up_to_down(up, down)),
        asyncio.create_task(stopping.wait()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
                await task
