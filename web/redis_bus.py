"""The event bus over Redis pub/sub, for a center that runs on several nodes.

Every node publishes the events its transactions committed to one Redis channel and delivers to
its own WebSocket subscribers only what comes back from that channel, so an event raised on any
node reaches the subscribers on every node exactly once. One publishing task per node keeps the
node's commit order; Redis keeps the order of what one connection published.

Losing Redis does not stop a node: while the broker is unreachable the node delivers its own
events locally (the other nodes miss them), reports ``"unreachable"`` in ``/healthz`` and keeps
reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from consult.events import Event, EventBus, LocalEventBus, decode_event, encode_event

logger = logging.getLogger(__name__)

CHANNEL = "telecenter:events"
OUTBOX_LIMIT = 10_000
BROKER_ERRORS = (RedisError, OSError)


class OutboxCounts(Protocol):
    """Where failed deliveries are counted (:class:`web.metrics.OutboxMetrics`)."""

    def failed(self, outbox: str) -> None: ...


class _NoCounts:
    def failed(self, outbox: str) -> None:
        pass


class RedisEventBus:
    """An :class:`~consult.events.EventBus` whose fan-out crosses nodes through Redis."""

    def __init__(
        self,
        url: str,
        *,
        channel: str = CHANNEL,
        retry_seconds: float = 1.0,
        counts: OutboxCounts | None = None,
    ) -> None:
        self._url = url
        self._channel = channel
        self._retry = retry_seconds
        self._counts = counts or _NoCounts()
        self._local = LocalEventBus()
        self._outbox: asyncio.Queue[Event] = asyncio.Queue(maxsize=OUTBOX_LIMIT)
        self._listening = asyncio.Event()
        self._sending = asyncio.Event()
        self._refused = asyncio.Event()
        """Set when a connection to the broker failed (start need not wait any longer)."""
        self._tasks: list[asyncio.Task[None]] = []

    # -- the EventBus protocol --------------------------------------------------------------

    def subscribe(self, user_id: int) -> asyncio.Queue[Event]:
        return self._local.subscribe(user_id)

    def unsubscribe(self, user_id: int, queue: asyncio.Queue[Event]) -> None:
        self._local.unsubscribe(user_id, queue)

    def subscriber_count(self) -> int:
        return self._local.subscriber_count()

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            if not self.connected:
                self._local.publish([event])
                continue
            try:
                self._outbox.put_nowait(event)
            except asyncio.QueueFull:
                logger.warning("event outbox full; %s delivered on this node only", event.kind)
                self._counts.failed("events")
                self._local.publish([event])

    def pending(self) -> int:
        """Events waiting to be published to the broker."""
        return self._outbox.qsize()

    def health(self) -> str:
        return "ok" if self.connected else "unreachable"

    # -- running ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._listening.is_set() and self._sending.is_set()

    async def start(self, wait_seconds: float = 3.0) -> None:
        """Connect (waiting a little for the broker; a node starts without it all the same)."""
        self._tasks = [
            asyncio.create_task(self._listen(), name="events-listen"),
            asyncio.create_task(self._send(), name="events-send"),
        ]
        connected = asyncio.ensure_future(self._connected())
        refused = asyncio.ensure_future(self._refused.wait())
        await asyncio.wait(
            {connected, refused}, timeout=wait_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        connected.cancel()
        refused.cancel()
        if not self.connected:
            logger.warning("event broker %s unreachable; events stay on this node", self._url)

    async def _connected(self) -> None:
        await self._listening.wait()
        await self._sending.wait()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _listen(self) -> None:
        while True:
            client = aioredis.from_url(self._url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._listening.set()
                    logger.info("listening for events on %s", self._channel)
                    await self._deliver_from(pubsub)
            except BROKER_ERRORS as exc:
                if self._listening.is_set():
                    logger.warning("event broker lost (%s); reconnecting", exc)
                self._listening.clear()
                self._refused.set()
            finally:
                await client.aclose()
            await asyncio.sleep(self._retry)

    async def _deliver_from(self, pubsub: aioredis.client.PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
            if message is None:
                await pubsub.ping()
                continue
            try:
                event = decode_event(message["data"])
            except ValueError as exc:
                logger.warning("ignored a malformed event from the broker: %s", exc)
                continue
            self._local.publish([event])

    async def _send(self) -> None:
        while True:
            client = aioredis.from_url(self._url)
            try:
                await client.ping()
                self._sending.set()
                while True:
                    event = await self._outbox.get()
                    try:
                        await client.publish(self._channel, encode_event(event))
                    except BROKER_ERRORS:
                        self._counts.failed("events")
                        self._local.publish([event])  # this node's users still hear of it
                        raise
            except BROKER_ERRORS as exc:
                if self._sending.is_set():
                    logger.warning("event broker lost for publishing (%s); reconnecting", exc)
                self._sending.clear()
                self._refused.set()
                self._drain_locally()
            finally:
                await client.aclose()
            await asyncio.sleep(self._retry)

    def _drain_locally(self) -> None:
        """Events queued while the broker went away are delivered on this node."""
        while not self._outbox.empty():
            self._local.publish([self._outbox.get_nowait()])


def make_bus(
    events_url: str, channel: str = CHANNEL, counts: OutboxCounts | None = None
) -> EventBus:
    """The bus the settings ask for: in-process unless ``events_url`` names a Redis server."""
    if not events_url:
        return LocalEventBus()
    return RedisEventBus(events_url, channel=channel, counts=counts)
