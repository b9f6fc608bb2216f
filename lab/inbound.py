"""The HL7 door: an ORU^R01 from the LIS becomes stored results, and an ACK says how it went.

AA: everything stored. AE: something could not be taken (unknown order, unknown test, a value
held for review), the rest of the message was stored. AR: the message itself was refused
(malformed, unsupported type); nothing was stored. The reason is in MSA-3 and the ERR segments.
"""

from __future__ import annotations

import logging

from hl7.containers import Message

from consult.center import Center, Work
from consult.errors import Conflict, NotFound
from consult.principal import SYSTEM
from lab import results
from lab.hl7 import AckError, Hl7Error, ResultGroup, build_ack, parse, parse_oru

logger = logging.getLogger(__name__)


class ResultsInbox:
    """The MLLP handler for results, bound to the center it stores into."""

    def __init__(self, center: Center, *, name: str = "mllp") -> None:
        self.center = center
        self.name = name

    def reject(self, reason: str) -> bytes:
        """A bare AR for what could not even be read (oversize, internal failure)."""
        return build_ack(None, "AR", [AckError(reason, code="100")]).encode()

    async def handle(self, raw: bytes) -> bytes:
        message: Message | None = None
        try:
            message = parse(raw.decode("utf-8", errors="replace"))
            oru = parse_oru(message)
        except Hl7Error as exc:
            logger.warning("HL7 message refused: %s", exc.text)
            return build_ack(message, exc.ack, [AckError(exc.text, exc.code, exc.where)]).encode()
        errors: list[AckError] = []
        device = (oru.sending_application or "unknown")[:40]
        try:
            async with self.center.work(SYSTEM, client=f"{self.name}:{device}") as work:
                for group in oru.groups:
                    errors += await _store_group(work, group, device, oru.patient_ids)
        except Exception:  # the adapter boundary: nothing stored, tell the sender to retry
            logger.exception("HL7 message %s could not be stored", oru.control_id)
            return build_ack(
                message, "AE", [AckError("internal error; nothing stored, send again", "207")]
            ).encode()
        return build_ack(message, "AE" if errors else "AA", errors).encode()


async def _store_group(
    work: Work, group: ResultGroup, device: str, patient_ids: tuple[str, ...]
) -> list[AckError]:
    """Store one order's observations; the problems to report (none: all stored)."""
    order_ref = group.placer or group.filler
    try:
        outcome = await results.receive(
            work,
            group.placer,
            group.filler,
            group.observations,
            device=device,
            patient_ids=patient_ids,
        )
    except NotFound:
        return [AckError(f"unknown order {order_ref}", "204", "OBR^1^2")]
    except Conflict as exc:
        return [AckError(f"order {order_ref}: {exc.message}", "207", "OBR^1^2")]
    where = {
        obs.code: f"OBX^{index}^5"
        for obs, index in zip(group.observations, group.obx_indexes, strict=False)
    }
    errors = [
        AckError(f"{o.code}: {reason}", "103", where.get(o.code, ""))
        for o, reason in outcome.refused
    ]
    errors += [
        AckError(
            f"{r.test_code} held for review: {r.hold_reason}", "207", where.get(r.test_code, "")
        )
        for r in outcome.held
    ]
    return errors
