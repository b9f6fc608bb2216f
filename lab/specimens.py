"""Specimens: collected and shipped by the clinic, received or rejected by the county lab.

The clinic sees at every step where its specimen is.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select

from consult import notifications as notes
from consult import requests as requests_
from consult.center import Work
from consult.errors import Forbidden, InvalidInput, NotFound
from consult.lifecycle import Lifecycle
from consult.vocab import RequestStatus
from lab import orders
from lab.tables import LabOrder, Specimen
from lab.vocab import SPECIMEN_ZH, OrderStatus, RejectionReason, SpecimenStatus

logger = logging.getLogger(__name__)

S = SpecimenStatus
TRANSITIONS: dict[SpecimenStatus, frozenset[SpecimenStatus]] = {
    S.PENDING: frozenset({S.COLLECTED}),
    S.COLLECTED: frozenset({S.SHIPPED, S.RECEIVED, S.REJECTED}),
    S.SHIPPED: frozenset({S.RECEIVED, S.REJECTED}),
    S.RECEIVED: frozenset({S.REJECTED}),
    S.REJECTED: frozenset(),
}
STAGE = {
    S.PENDING: OrderStatus.ORDERED,
    S.COLLECTED: OrderStatus.COLLECTED,
    S.SHIPPED: OrderStatus.SHIPPED,
    S.RECEIVED: OrderStatus.RECEIVED,
}


LIFECYCLE = Lifecycle("specimen", TRANSITIONS, label=lambda s: s.label, stamp=None)


def set_status(specimen: Specimen, new: SpecimenStatus) -> None:
    """The one setter of a specimen's status (the table above, checked and logged)."""
    LIFECYCLE.set(specimen, new)


async def _load(work: Work, specimen_id: int, action: str) -> tuple[Specimen, LabOrder]:
    specimen = await work.session.get(Specimen, specimen_id)
    if specimen is None:
        raise NotFound(f"no specimen {specimen_id}")
    try:
        order = await orders.readable(work, specimen.order_id, action)
    except NotFound:
        raise NotFound(f"no specimen {specimen_id}") from None
    return specimen, order


def _clinic_only(work: Work, action: str, patient_id: int) -> None:
    if not work.principal.is_clinic:
        work.deny(action, patient_id=patient_id)
        raise Forbidden("specimens are collected and shipped by the requesting clinic")


def _lab_only(work: Work, action: str, patient_id: int) -> None:
    if not work.principal.kinds:
        work.deny(action, patient_id=patient_id)
        raise Forbidden("specimens are received by the county laboratory")


async def _advance_order(work: Work, order: LabOrder) -> None:
    """Move a not-yet-resulted order to the least advanced stage of its live specimens."""
    if order.status not in STAGE.values():
        return
    rows = await work.session.scalars(
        select(Specimen.status).where(
            Specimen.order_id == order.id, Specimen.status != SpecimenStatus.REJECTED
        )
    )
    stages = [STAGE[s] for s in rows]
    if stages:
        order_rank = list(STAGE.values())
        orders.set_status(order, min(stages, key=order_rank.index), work)


async def collect(
    work: Work, specimen_id: int, *, collected_at: dt.datetime | None, collected_by: str
) -> Specimen:
    specimen, order = await _load(work, specimen_id, "lab.specimen.collect")
    _clinic_only(work, "lab.specimen.collect", order.patient_id)
    when = collected_at or work.now
    if when > work.now + dt.timedelta(minutes=5):
        raise InvalidInput("collection time is in the future", field="collected_at")
    set_status(specimen, SpecimenStatus.COLLECTED)
    specimen.collected_at = when
    specimen.collected_by = collected_by.strip() or work.principal.display_name
    specimen.collected_by_id = work.principal.user_id
    await _advance_order(work, order)
    work.audit("lab.specimen.collect", patient_id=order.patient_id, obj=("specimen", specimen.id))
    return specimen


async def ship(work: Work, specimen_id: int) -> Specimen:
    specimen, order = await _load(work, specimen_id, "lab.specimen.ship")
    _clinic_only(work, "lab.specimen.ship", order.patient_id)
    set_status(specimen, SpecimenStatus.SHIPPED)
    specimen.shipped_at = work.now
    await _advance_order(work, order)
    work.audit("lab.specimen.ship", patient_id=order.patient_id, obj=("specimen", specimen.id))
    return specimen


async def receive(work: Work, specimen_id: int) -> Specimen:
    """The county lab receives the specimen; the request is then in progress."""
    specimen, order = await _load(work, specimen_id, "lab.specimen.receive")
    _lab_only(work, "lab.specimen.receive", order.patient_id)
    set_status(specimen, SpecimenStatus.RECEIVED)
    specimen.received_at = work.now
    specimen.received_by_id = work.principal.user_id
    if order.request.status in (RequestStatus.REQUESTED, RequestStatus.ACCEPTED):
        await requests_.start(work, order.request_id)
    await _advance_order(work, order)
    work.audit("lab.specimen.receive", patient_id=order.patient_id, obj=("specimen", specimen.id))
    return specimen


async def reject(work: Work, specimen_id: int, reason: RejectionReason, note: str) -> Specimen:
    """The lab rejects the specimen (haemolysed, insufficient, unlabelled); the clinic is told
    to collect again."""
    specimen, order = await _load(work, specimen_id, "lab.specimen.reject")
    _lab_only(work, "lab.specimen.reject", order.patient_id)
    set_status(specimen, SpecimenStatus.REJECTED)
    specimen.rejected_at = work.now
    specimen.rejection_reason = reason.value
    specimen.note = note.strip()
    await _advance_order(work, order)
    work.audit(
        "lab.specimen.reject",
        patient_id=order.patient_id,
        obj=("specimen", specimen.id),
        reason=reason.value,
    )
    request = order.request
    await notes.notify(
        work,
        await notes.clinic_users_for(work, request),
        "lab.specimen.rejected",
        f"标本 {specimen.label} ({SPECIMEN_ZH.get(specimen.specimen_type, '')}) 不合格: "
        f"{reason.value}, 请重新采集",
        f"Specimen {specimen.label} rejected ({reason.value}); please collect again",
        request_id=request.id,
        specimen_id=specimen.id,
        reason=reason.value,
    )
    return specimen


async def add(work: Work, order_id: int, specimen_type: str) -> Specimen:
    """A new specimen for an order (a recollection after a rejection)."""
    order = await orders.readable(work, order_id, "lab.specimen.add")
    _clinic_only(work, "lab.specimen.add", order.patient_id)
    if not specimen_type.strip():
        raise InvalidInput("a specimen needs a type", field="specimen_type")
    count = await work.session.scalar(
        select(func.count()).select_from(Specimen).where(Specimen.order_id == order.id)
    )
    specimen = orders.new_specimen(order, specimen_type.strip(), (count or 0) + 1)
    work.session.add(specimen)
    await work.session.flush()
    await _advance_order(work, order)  # back to "ordered" until the new one is collected
    work.audit("lab.specimen.add", patient_id=order.patient_id, obj=("specimen", specimen.id))
    return specimen
