"""The HL7 door: an ORU^R01 from the LIS becomes stored results, and an ACK says how it went.

A message is taken whole or not at all:

- AA: everything stored.
- AE with ERR severity W: everything stored, some values held for review (implausible).
- AE with ERR severity E: nothing stored: an unknown order, a PID that is not the order's
  patient, an order without a collected specimen, an unknown test or unit, a value that does
  not fit its type (NM/SN) or a released value sent again without OBX-11 ``C``; one ERR each.
- AR: the message itself was refused (malformed, unsupported type, no PID); nothing stored.

The reason is in MSA-3 and the ERR segments, and never shows what the center holds.
"""

from __future__ import annotations

import logging

from hl7.containers import Message

from consult.center import Center, Work
from consult.errors import Conflict, DomainError, NotFound
from consult.principal import SYSTEM
from lab import results
from lab.hl7 import AckError, Hl7Error, ResultGroup, build_ack, parse, parse_oru

logger = logging.getLogger(__name__)

NOTHING_STORED = AckError("message refused: nothing of it was stored", "207", severity="I")


class MessageRefused(DomainError):
    """Raised inside the unit of work to roll back every group of a refused message (the
    denials recorded on the way are kept)."""

    code = "hl7_refused"


class ResultsInbox:
    """The MLLP handler for results, bound to the center it stores into."""

    def __init__(self, center: Center, *, name: str = "mllp") -> None:
        self.center = center
        self.name = name

    def reject(self, reason: str) -> bytes:
        """A bare AR for what could not even be read (oversize, incomplete, internal failure)."""
        return build_ack(None, "AR", [AckError(reason, code="100")]).encode()

    async def handle(self, raw: bytes, peer: str = "") -> bytes:
        """The ACK to one message from ``peer`` (``host:port``, for the logs and the audit)."""
        message: Message | None = None
        try:
            message = parse(raw.decode("utf-8", errors="replace"))
            oru = parse_oru(message)
        except Hl7Error as exc:
            logger.warning("HL7 message from %s refused (%s): %s", peer, exc.ack, exc.text)
            return build_ack(message, exc.ack, [*exc.errors, NOTHING_STORED]).encode()
        errors: list[AckError] = []
        device = (oru.sending_application or "unknown")[:40]
        client = f"{self.name}:{peer}:{device}" if peer else f"{self.name}:{device}"
        try:
            async with self.center.work(SYSTEM, client=client[:64]) as work:
                for group in oru.groups:
                    errors += await _store_group(work, group, device)
                if any(e.severity == "E" for e in errors):
                    raise MessageRefused("message refused")
        except MessageRefused:
            refusals = [e for e in errors if e.severity == "E"]  # held values were not kept either
            logger.warning(
                "HL7 message %s from %s refused: %s", oru.control_id, peer, refusals[0].text
            )
            return build_ack(message, "AE", [*refusals, NOTHING_STORED]).encode()
        except Exception:  # the adapter boundary: nothing stored, tell the sender to retry
            logger.exception("HL7 message %s could not be stored", oru.control_id)
            return build_ack(
                message, "AE", [AckError("internal error; nothing stored, send again", "207")]
            ).encode()
        return build_ack(message, "AE" if errors else "AA", errors).encode()


async def _store_group(work: Work, group: ResultGroup, device: str) -> list[AckError]:
    """Store one order's observations; the problems to report (none: all stored)."""
    order_ref = group.placer or group.filler
    try:
        outcome = await results.receive(
            work,
            group.placer,
            group.filler,
            group.observations,
            device=device,
            patient=group.patient,
        )
    except NotFound:
        return [AckError(f"unknown order {order_ref}", "204", "OBR^1^2")]
    except Conflict as exc:
        if exc.code == "patient_mismatch":
            return [AckError(f"order {order_ref}: {exc.message}", "204", "PID^1^3")]
        return [AckError(f"order {order_ref}: {exc.message}", "207", "OBR^1^2")]
    where = {
        obs.code: f"OBX^{index}^5"
        for obs, index in zip(group.observations, group.obx_indexes, strict=False)
    }
    errors = [
        AckError(f"{r.observation.code}: {r.reason}", "103", where.get(r.observation.code, ""))
        for r in outcome.refused
    ]
    errors += [
        AckError(
            f"{r.test_code} held for review: {r.hold_reason}",
            "207",
            where.get(r.test_code, ""),
            severity="W",
        )
        for r in outcome.held
    ]
    return errors
