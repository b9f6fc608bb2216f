"""An in-process event bus: the live side of notifications.

Services queue :class:`Event` objects on their unit of work; they are published only after the
transaction commits, so a subscriber never hears of something that was rolled back. Each
WebSocket subscribes with the user id it serves. A broker (Redis, NATS) can replace this class
behind the same two methods when the center runs on several nodes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class Event:
    """Something that happened that some users must hear about now."""

    kind: str
    user_ids: frozenset[int]
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.kind:
            raise ValueError("event kind must not be empty")


class EventBus:
    """Fan-out of events to per-user subscriber queues."""

    def __init__(self) -> None:
        self._subscribers: dict[int, set[asyncio.Queue[Event]]] = defaultdict(set)

    def subscribe(self, user_id: int) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self._subscribers[user_id].add(queue)
        return queue

    def unsubscribe(self, user_id: int, queue: asyncio.Queue[Event]) -> None:
        queues = self._subscribers.get(user_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[user_id]

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            for user_id in event.user_ids:
                for queue in self._subscribers.get(user_id, ()):
                    try:
                        queue.put_nowait(event)
                    except asyncio.QueueFull:
                        logger.warning(
                            "subscriber of user %s is not reading; event dropped", user_id
                        )

    def subscriber_count(self) -> int:
        return sum(len(q) for q in self._subscribers.values())
