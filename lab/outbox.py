"""What the outboxes share (orders to the LIS in :mod:`lab.outbound`, reports to the clinics'
HIS in :mod:`lab.his`): one attempt of a queued message over MLLP, read as the peer's ACK."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lab.hl7 import control_id_of, read_ack
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
    """Send ``message`` (UTF-8) and read the ACK; never raises for the peer's failures.

    The ACK counts only if its MSA-2 names the message sent (its MSH-10, HL7 v2.5 section
    2.14.8): an answer to another message (a late ACK of an earlier try, a peer that mixes up its
    connections) says nothing about this one, so it is read as no answer, the connection is
    dropped to get back in step, and the message is tried again later.
    """
    sent = control_id_of(message)
    try:
        reply = (await client.send(message.encode())).decode("utf-8", "replace")
    except OSError as exc:
        return Attempt(unreachable=str(exc))
    try:
        ack = read_ack(reply)
    except (ValueError, KeyError, IndexError) as exc:
        return Attempt(unreachable=f"the answer is not an HL7 ACK ({exc})")
    if ack.answers != sent:
        await client.close()
        return Attempt(unreachable=f"the ACK answers message {ack.answers or '(none)'}, not {sent}")
    return Attempt(code=ack.code, text=ack.text)
