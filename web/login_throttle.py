"""Failed sign-ins limited per user name and per client address (sliding window, in memory).

The account lockout (in the database, shared by every node) stops guessing one account's
password; this throttle, per node, also slows an address that tries many accounts, and answers
``429`` with ``Retry-After`` before any password is hashed, so a flood cannot take the CPU.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class LoginThrottle:
    """At most ``limit`` failed attempts per key in any ``window`` seconds."""

    limit: int = 20
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 100_000
    _seen: dict[str, deque[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ValueError(f"invalid login throttle: {self.limit} per {self.window} s")

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds until every key may try again, or None when none is over its limit."""
        now = self.clock()
        waits = [self._wait(key, now) for key in keys]
        worst = max(waits, default=0.0)
        return math.ceil(worst) if worst > 0 else None

    def record(self, keys: Iterable[str]) -> None:
        """Count one attempt against every key."""
        now = self.clock()
        if len(self._seen) > self.max_keys:
            self._forget(now)
        for key in keys:
            self._seen.setdefault(key, deque()).append(now)

    def _wait(self, key: str, now: float) -> float:
        times = self._seen.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.limit:
            return 0.0
        return times[0] + self.window - now

    def _forget(self, now: float) -> None:
        for key in [k for k, t in self._seen.items() if not t or t[-1] <= now - self.window]:
            del self._seen[key]
