"""What the outboxes share (orders to the LIS in :mod:`lab.outbound`, reports to the clinics'
HIS in :mod:`lab.his`): one attempt of a queued message over MLLP, read as the peer's ACK."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lab.hl7 import ack_code_of
from lab.mllp import MllpClient

ACCEPTED = frozenset({"AA", "CA"})


class OutboxCounts(Protocol):
    """Where failed deliveries are counted (:class:`web.metrics.OutboxMetrics`)."""

    def failed(self, outbox: str) -> None: ...


@dataclass(frozen=True)
class Attempt:
    """One try at delivering a message: the ACK's MSA-1 and MSA-3, or why there was none."""

    code: str = ""
    """MSA-1 (empty: no ACK was read)."""
    text: str = ""
    """MSA-3, the peer's reason."""
    unreachable: str = ""
    """Why no ACK was read (refused, timed out, closed, not HL7); empty when one was."""

    @property
    def accepted(self) -> bool:
        return self.code in ACCEPTED

    @property
    def error(self) -> str:
        """Empty when accepted; else what to record on the outbox row."""
        if self.unreachable:
            return f"unreachable: {self.unreachable}"
        return "" if self.accepted else f"{self.code}: {self.text}"


async def attempt(client: MllpClient, message: str) -> Attempt:
    """Send ``message`` (UTF-8) and read the ACK; never raises for the peer's failures."""
    try:
        reply = (await client.send(message.encode())).decode("utf-8", "replace")
    except OSError as exc:
        return Attempt(unreachable=str(exc))
    try:
        code, text = ack_code_of(reply)
    except (ValueError, KeyError, IndexError) as exc:
        return Attempt(unreachable=f"the answer is not an HL7 ACK ({exc})")
    return Attempt(code=code, text=text)
