"""Sign-in attempts limited per user name and per client address (sliding window, in memory).

The account lockout (in the database, shared by every node) stops guessing one account's
password; this throttle, per node, also slows an address that tries many accounts, and answers
``429`` with ``Retry-After`` before any password is hashed, so a flood cannot take the CPU.

An attempt takes its slot when it is admitted (:meth:`LoginThrottle.admit`), before its
password is checked: parallel attempts cannot all pass the check before the first failure is
counted. A failed attempt keeps its slot for the window; one that succeeds, or ends without a
verdict, gives it back. So at most ``limit`` attempts per key are in flight or failed within
any window, except on an address that has not failed within the window: many honest people share
one (a hospital's or a clinic's NAT address), so there attempts in flight count only from the
first failure on, and colleagues signing in together at the start of a shift are never refused.
The burst such an address may still try is bounded by the password hashing pool.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType

from lab.mllp_peers import address_of

ADDRESS_PREFIX = "addr:"
IPV6_GROUP = 64
"""IPv6 addresses are counted by their /64: one subscriber's line usually holds all of it."""
IN_FLIGHT_WAIT_S = 1
"""The ``Retry-After`` when only attempts still being checked fill a key's slots."""


def address_key(client: str) -> str:
    """The throttle key of a client address: an IPv4 address whole (an IPv4-mapped IPv6 one
    as IPv4), an IPv6 address by its /64; an unreadable one as it is."""
    address = address_of(client)
    if address is None:
        return f"{ADDRESS_PREFIX}{client}"
    if isinstance(address, ipaddress.IPv6Address):
        return f"{ADDRESS_PREFIX}{ipaddress.IPv6Network((address, IPV6_GROUP), strict=False)}"
    return f"{ADDRESS_PREFIX}{address}"


def sign_in_keys(username: str, client: str) -> tuple[str, str]:
    """The keys one sign-in attempt counts against: its user name and its address."""
    return f"user:{username.casefold()}", address_key(client)


class Throttled(Exception):
    """Every slot of a key is taken; ``retry_after`` seconds until one may be free."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"throttled for {retry_after} s")
        self.retry_after = retry_after


@dataclass
class LoginThrottle:
    """At most ``limit`` attempts per key in flight or failed in any ``window`` seconds."""

    limit: int = 20
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 100_000
    _failed: dict[str, deque[float]] = field(default_factory=dict)
    _in_flight: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ValueError(f"invalid login throttle: {self.limit} per {self.window} s")

    def admit(self, keys: Iterable[str]) -> Attempt:
        """Take a slot on every key for one attempt (check and take in one step).

        Raises
        ------
        Throttled
            A key has no slot left.
        """
        keys = tuple(keys)
        now = self.clock()
        wait = max((self._wait(key, now) for key in keys), default=0.0)
        if wait > 0:
            raise Throttled(math.ceil(wait))
        for key in keys:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        return Attempt(self, keys)

    def in_flight(self, key: str) -> int:
        """Attempts on ``key`` admitted and not yet decided."""
        return self._in_flight.get(key, 0)

    def failures(self, key: str) -> int:
        """Failed attempts on ``key`` within the window."""
        times = self._failed.get(key)
        if not times:
            return 0
        self._expire(times, self.clock())
        return len(times)

    def _settle(self, keys: tuple[str, ...], failed: bool) -> None:
        now = self.clock()
        if failed and len(self._failed) > self.max_keys:
            self._forget(now)
        for key in keys:
            left = self._in_flight.get(key, 0) - 1
            if left > 0:
                self._in_flight[key] = left
            else:
                self._in_flight.pop(key, None)
            if failed:
                self._failed.setdefault(key, deque()).append(now)

    def _wait(self, key: str, now: float) -> float:
        times = self._failed.get(key)
        if times:
            self._expire(times, now)
        failed = len(times) if times else 0
        shared_and_clean = key.startswith(ADDRESS_PREFIX) and not failed
        taken = failed + (0 if shared_and_clean else self._in_flight.get(key, 0))
        if taken < self.limit:
            return 0.0
        first_to_free = taken - self.limit  # slots free as failures leave the window
        if times and first_to_free < failed:
            return max(times[first_to_free] + self.window - now, IN_FLIGHT_WAIT_S)
        return IN_FLIGHT_WAIT_S

    def _expire(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()

    def _forget(self, now: float) -> None:
        for key in [k for k, t in self._failed.items() if not t or t[-1] <= now - self.window]:
            del self._failed[key]


class Attempt:
    """One admitted attempt's slots: kept if it :meth:`failed`, else given back on exit."""

    def __init__(self, throttle: LoginThrottle, keys: tuple[str, ...]) -> None:
        self._throttle, self._keys = throttle, keys
        self._settled = False

    def failed(self) -> None:
        """The attempt failed: its slots count for the window."""
        self._settle(failed=True)

    def _settle(self, *, failed: bool) -> None:
        if not self._settled:
            self._settled = True
            self._throttle._settle(self._keys, failed)

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._settle(failed=False)
