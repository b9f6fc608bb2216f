"""The center's configurable rules: turnaround deadlines, logins, tokens, overrides."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from consult.vocab import Priority, RequestKind

DEFAULT_TURNAROUND_MINUTES: dict[RequestKind, dict[Priority, int]] = {
    RequestKind.ECG_READ: {Priority.STAT: 10, Priority.URGENT: 30, Priority.ROUTINE: 120},
    RequestKind.IMAGING_READ: {Priority.STAT: 30, Priority.URGENT: 60, Priority.ROUTINE: 240},
    RequestKind.LAB_TEST: {Priority.STAT: 60, Priority.URGENT: 240, Priority.ROUTINE: 1440},
    RequestKind.VIDEO_CONSULT: {Priority.STAT: 15, Priority.URGENT: 60, Priority.ROUTINE: 1440},
}


@dataclass(frozen=True)
class PasswordHashing:
    """Argon2id cost parameters (RFC 9106's second recommended set by default)."""

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4
    concurrency: int = 2
    """Hashes computed at once (each on a thread of the hashing pool)."""
    queue: int = 16
    """Hashes waiting for a thread beyond those; more are refused at once (busy)."""

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.memory_cost_kib < 8 * self.parallelism:
            raise ValueError(f"argon2 parameters too weak to be valid: {self}")
        if self.concurrency < 1 or self.queue < 0:
            raise ValueError(f"password hashing pool of {self.concurrency} + {self.queue}")


SAMPLE_BUCKETS = 10000
"""Sampling buckets of a second reading: a request falls in one, 0..9999, by its identifier."""


def sample_bucket(identifier: str) -> int:
    """The request's sampling bucket: deterministic (the same identifier, the same bucket)."""
    digest = hashlib.sha256(f"second-reading:{identifier}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SAMPLE_BUCKETS


@dataclass(frozen=True)
class SecondReadingRule:
    """Which signed reports of one kind wait for a second reader before release: every one of
    ``priorities`` (e.g. all stat ECGs), and ``sample_percent`` of the others."""

    priorities: frozenset[Priority] = frozenset()
    sample_percent: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.sample_percent <= 100:
            raise ValueError(f"second reading sample of {self.sample_percent}% is not 0..100")

    def decide(self, priority: Priority, identifier: str) -> tuple[bool, int]:
        """Whether this request needs a second reading, and its sampling bucket."""
        bucket = sample_bucket(identifier)
        sampled = bucket < round(self.sample_percent * SAMPLE_BUCKETS / 100)
        return priority in self.priorities or sampled, bucket


@dataclass(frozen=True)
class Policy:
    """Rules the administrator may tune; validated when built."""

    turnaround_minutes: dict[RequestKind, dict[Priority, int]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_TURNAROUND_MINUTES.items()}
    )
    token_ttl: dt.timedelta = dt.timedelta(hours=12)
    lockout_threshold: int = 5
    lockout_duration: dt.timedelta = dt.timedelta(minutes=15)
    override_duration: dt.timedelta = dt.timedelta(hours=4)
    password_hashing: PasswordHashing = field(default_factory=PasswordHashing)
    timezone: str = "Asia/Shanghai"
    """The center's local time zone (IANA name): times people read and publish are in it."""
    second_reading: dict[RequestKind, SecondReadingRule] = field(default_factory=dict)
    """Kinds whose reports may need a second reading before release (none: signed is released)."""

    def __post_init__(self) -> None:
        for kind in RequestKind:
            table = self.turnaround_minutes.get(kind)
            if table is None:
                raise ValueError(f"turnaround deadlines missing for {kind}")
            for priority in Priority:
                minutes = table.get(priority)
                if minutes is None or minutes <= 0:
                    raise ValueError(f"turnaround for {kind}/{priority} must be > 0 minutes")
        if self.lockout_threshold < 1:
            raise ValueError("lockout_threshold must be at least 1")
        if self.token_ttl <= dt.timedelta(0):
            raise ValueError("token_ttl must be positive")

    def due(self, kind: RequestKind, priority: Priority, start: dt.datetime) -> dt.datetime:
        """When a request of this kind and priority, made at ``start``, is due."""
        return start + dt.timedelta(minutes=self.turnaround_minutes[kind][priority])
