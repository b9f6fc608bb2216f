"""Event buses: the live side of notifications.

Services queue :class:`Event` objects on their unit of work; they are published only after the
transaction commits, so a subscriber never hears of something that was rolled back. Each
WebSocket subscribes with the user id it serves. :class:`LocalEventBus` fans events out inside one
process; a broker-backed bus (``web.redis_bus``) carries them between nodes behind the same
:class:`EventBus` protocol, using the codec below.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

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


def encode_event(event: Event) -> str:
    """The wire form of an event between nodes (JSON; payloads are JSON already)."""
    return json.dumps(
        {"kind": event.kind, "users": sorted(event.user_ids), "payload": event.payload},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_event(raw: str | bytes) -> Event:
    """The inverse of :func:`encode_event`; raises ``ValueError`` on anything malformed."""
    try:
        data = json.loads(raw)
        kind, users, payload = data["kind"], data["users"], data["payload"]
    except (TypeError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed event: {exc}") from exc
    if not isinstance(kind, str) or not isinstance(payload, dict):
        raise ValueError("malformed event: kind must be a string and payload an object")
    if not isinstance(users, list) or not all(type(u) is int for u in users):
        raise ValueError("malformed event: users must be a list of user ids")
    return Event(kind, frozenset(users), payload)


class EventBus(Protocol):
    """What the center and the WebSocket door need of a bus."""

    def subscribe(self, user_id: int) -> asyncio.Queue[Event]: ...

    def unsubscribe(self, user_id: int, queue: asyncio.Queue[Event]) -> None: ...

    def publish(self, events: Iterable[Event]) -> None: ...

    def subscriber_count(self) -> int: ...

    def health(self) -> str:
        """``"local"`` for a one-node bus, ``"ok"`` or ``"unreachable"`` for a broker."""
        ...


class LocalEventBus:
    """Fan-out of events to per-user subscriber queues inside this process."""

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

    def health(self) -> str:
        return "local"
