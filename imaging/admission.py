"""Who may take a share of the DICOM node: open connections per peer address and in total,
and the associations (connections whose A-ASSOCIATE-RQ arrived) the node serves at once.

A connection counts from the moment it is accepted until it closes, whether or not it ever
associates, so one address cannot hold every connection by opening them and staying silent (the
ARTIM timer closes those, PS3.8 9.1.5). Only associations count against the association limit:
connections still waiting for their A-ASSOCIATE-RQ never keep a device's association out.

Pure and thread-safe: the accept loop, the association threads and the event loop (node worker
processes) all use it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

REFUSAL_LOG_INTERVAL_S = 10.0
"""At most one warning per address this often (an attacker must not flood the log)."""


class ConnectionLimits:
    """Count open connections per peer address and in total; refuse beyond either limit."""

    def __init__(self, per_peer: int, total: int) -> None:
        if per_peer < 1 or total < 1:
            raise ValueError(f"connection limits must be positive (got {per_peer}, {total})")
        self.per_peer = per_peer
        self.total = total
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()
        self._refusals = _RefusalLog()

    def admit(self, host: str) -> bool:
        """Count a new connection from ``host``, or refuse it (False; nothing counted)."""
        with self._lock:
            if self._open[host] >= self.per_peer:
                reason = f"{self.per_peer} connections from this address are open"
            elif sum(self._open.values()) >= self.total:
                reason = f"the node's {self.total} connections are open"
            else:
                self._open[host] += 1
                return True
        self._refusals.note(host, reason)
        return False

    def release(self, host: str) -> None:
        """A connection from ``host`` closed."""
        with self._lock:
            if self._open[host] <= 1:
                self._open.pop(host, None)
            else:
                self._open[host] -= 1

    def open_connections(self, host: str | None = None) -> int:
        """Open connections from ``host`` (all of them if None)."""
        with self._lock:
            return self._open[host] if host is not None else sum(self._open.values())


class AssociationSlots:
    """The associations served at once (taken when an A-ASSOCIATE-RQ is negotiated)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the association limit must be positive (got {limit})")
        self.limit = limit
        self._lock = threading.Lock()
        self._taken = 0

    def take(self) -> bool:
        with self._lock:
            if self._taken >= self.limit:
                return False
            self._taken += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._taken = max(0, self._taken - 1)

    @property
    def taken(self) -> int:
        return self._taken


@dataclass(frozen=True)
class NodeLimits:
    """What one association server enforces.

    ``connections`` is None where another process admits the connections (a node worker: the
    server process counts them before it hands them over).
    """

    connections: ConnectionLimits | None
    associations: AssociationSlots
    max_data_set: int = 0
    """The largest data set one DIMSE message may carry, in bytes (0: no limit)."""


class Ticket:
    """One admitted connection, released exactly once whichever path ends it."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            release, self._release = self._release, None
        if release is not None:
            release()


class _RefusalLog:
    """Warn about refused connections, at most once per address per interval."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._since: Counter[str] = Counter()

    def note(self, host: str, reason: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._since[host] += 1
            if now - self._last.get(host, -REFUSAL_LOG_INTERVAL_S) < REFUSAL_LOG_INTERVAL_S:
                return
            count = self._since.pop(host)
            self._last[host] = now
            if len(self._last) > 1024:  # forget quiet addresses
                self._last = {h: t for h, t in self._last.items() if now - t < 60}
                self._since = Counter({h: n for h, n in self._since.items() if h in self._last})
        logger.warning(
            "DICOM connection from %s refused: %s (%d refused since the last warning)",
            host,
            reason,
            count,
        )
