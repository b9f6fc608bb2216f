"""Orders to the LIS: an OML^O21 per order, kept in an outbox table written with the order and
delivered over MLLP by a background task (so a LIS that is down loses nothing)."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import func, select

from consult.center import Center, Work
from consult.institutions import get_institution
from consult.models import Patient
from consult.principal import SYSTEM
from lab import catalogue
from lab.hl7 import OrderLine, OutgoingOrder, build_oml
from lab.mllp import MllpClient
from lab.outbox import OutboxCounts, attempt
from lab.tables import LabOrder, LisOutbound, Specimen

logger = logging.getLogger(__name__)

__all__ = ["OutboxCounts", "deliver_pending", "enqueue", "pending_count"]

MAX_ATTEMPTS = 20
OUTBOX = "lis"


async def pending_count(center: Center) -> int:
    """Messages waiting for the LIS (not yet accepted, attempts left)."""
    async with center.work(SYSTEM, client="lis-outbox") as work:
        count = await work.session.scalar(
            select(func.count())
            .select_from(LisOutbound)
            .where(LisOutbound.sent_at.is_(None), LisOutbound.attempts < MAX_ATTEMPTS)
        )
    return int(count or 0)


async def enqueue(work: Work, order: LabOrder) -> LisOutbound:
    """Queue the order's OML^O21 (in the order's transaction)."""
    request = order.request
    patient = await work.session.get(Patient, order.patient_id)
    assert patient is not None
    tests = await catalogue.tests_by_code(work, order.test_codes)
    specimens = await work.session.scalars(select(Specimen).where(Specimen.order_id == order.id))
    institution = await get_institution(work, request.requesting_institution_id)
    message = build_oml(
        OutgoingOrder(
            placer=order.placer_number,
            patient_id=patient.id,
            patient_name=patient.name,
            resident_id=patient.resident_id or "",
            sex=patient.sex.value,
            birth_date=patient.birth_date,
            priority=request.priority.value,
            ordered_at=order.created_at,
            lines=[
                OrderLine(code, tests[code].name_en, tests[code].system)
                for code in order.test_codes
            ],
            specimens=[(s.label, s.specimen_type) for s in specimens],
            ordering_facility=institution.code,
            clinical_question=request.clinical_question,
        ),
        now=work.now,
        control_id=uuid.uuid4().hex[:20],
    )
    row = LisOutbound(order_id=order.id, message=message, created_at=work.now)
    work.session.add(row)
    return row


async def deliver_pending(
    center: Center, client: MllpClient, *, limit: int = 50, counts: OutboxCounts | None = None
) -> int:
    """Send queued messages in order (no transaction held while on the wire); return how many
    the LIS accepted. Each failed attempt is counted in ``counts``."""
    async with center.work(SYSTEM, client="lis-outbox") as work:
        pending = [
            (row.id, row.message)
            for row in await work.session.scalars(
                select(LisOutbound)
                .where(LisOutbound.sent_at.is_(None), LisOutbound.attempts < MAX_ATTEMPTS)
                .order_by(LisOutbound.id)
                .limit(limit)
            )
        ]
    sent = 0
    for row_id, message in pending:
        error = (await attempt(client, message)).error
        async with center.work(SYSTEM, client="lis-outbox") as work:
            row = await work.session.get(LisOutbound, row_id)
            assert row is not None
            row.attempts += 1
            row.last_error = error[:500]
            if not error:
                row.sent_at = work.now
                sent += 1
        if error:
            logger.warning("LIS delivery of outbound %s failed: %s", row_id, error)
            if counts is not None:
                counts.failed(OUTBOX)
            if error.startswith("unreachable"):
                break
    return sent
