"""What the DICOM node counts, and where it tells it (:class:`web.metrics.DicomMetrics` in the
server; over the channel to the server process in a node worker process).

Counted where it happens, on pynetdicom's association threads: an implementation must be
thread-safe.
"""

from __future__ import annotations

from typing import Protocol

ACCEPTED, REJECTED, ABORTED = "accepted", "rejected", "aborted"
OUTCOMES = (ACCEPTED, REJECTED, ABORTED)
METHODS = frozenset({"association", "stored", "store_failed"})
"""The calls a node worker process may forward (nothing else is called on its word)."""


class NodeCounts(Protocol):
    def association(self, outcome: str) -> None:
        """An association was accepted, rejected or aborted (one of :data:`OUTCOMES`)."""

    def stored(self) -> None:
        """An instance was stored and acknowledged."""

    def store_failed(self, status: int) -> None:
        """A C-STORE was answered with the failure ``status``."""


class NoCounts:
    """Counts nothing (a node built without metrics: tools, benchmarks)."""

    def association(self, outcome: str) -> None:
        pass

    def stored(self) -> None:
        pass

    def store_failed(self, status: int) -> None:
        pass
