"""Lab orders: a clinic's lab-test request for a patient, with its tests and specimens.

The core :class:`~consult.models.DiagnosticRequest` (kind ``lab_test``) carries the lifecycle,
deadlines and the report; the :class:`~lab.tables.LabOrder` beside it carries the order numbers
(placer = the request identifier), the tests and the specimens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.base import ExecutableOption as ORMOption

from consult import requests as requests_
from consult.access import readable_child, request_clause
from consult.center import Work
from consult.lifecycle import Lifecycle
from consult.models import DiagnosticRequest, Patient
from consult.vocab import Priority, RequestKind
from lab import catalogue
from lab.tables import LabOrder, LabTest, Specimen
from lab.vocab import OrderStatus, SpecimenStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewOrder:
    patient_id: int
    tests: list[str]
    priority: Priority = Priority.ROUTINE
    clinical_question: str = ""
    placer_number: str = ""
    """Only for imported or demo orders; by default the request identifier."""
    extra: dict[str, str] = field(default_factory=dict)


OS = OrderStatus
_STAGES = frozenset({OS.ORDERED, OS.COLLECTED, OS.SHIPPED, OS.RECEIVED})
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # the pre-analytic stages follow the least advanced live specimen (a rejected one recollected
    # moves the order back); results may come from any stage (an analyser's HL7 feed)
    **{s: _STAGES | {OS.RESULTED, OS.CANCELLED} for s in _STAGES},
    OS.RESULTED: frozenset({OS.RELEASED, OS.CANCELLED}),
    OS.RELEASED: frozenset({OS.RESULTED}),  # a correction waits for release again
    OS.CANCELLED: frozenset(),
}
LIFECYCLE = Lifecycle("lab order", TRANSITIONS, label=lambda o: o.placer_number, same_is_noop=True)


def set_status(order: LabOrder, new: OrderStatus, work: Work) -> None:
    """The one setter of an order's status (the table above, checked and logged)."""
    LIFECYCLE.set(order, new, work.now)


async def create(work: Work, data: NewOrder) -> LabOrder:
    """Create the request (through the core) and the lab order with one specimen per type."""
    tests = await catalogue.expand(work, data.tests)
    request = await requests_.create(
        work,
        requests_.NewRequest(
            patient_id=data.patient_id,
            kind=RequestKind.LAB_TEST,
            priority=data.priority,
            clinical_question=data.clinical_question,
            details={"tests": [t.code for t in tests], "test_names": [t.name for t in tests]},
        ),
    )
    order = LabOrder(
        request_id=request.id,
        patient_id=request.patient_id,
        placer_number=data.placer_number or request.identifier,
        status=OrderStatus.ORDERED,
        test_codes=[t.code for t in tests],
        created_at=work.now,
        updated_at=work.now,
    )
    work.session.add(order)
    await work.session.flush()
    order.request = request
    for number, specimen_type in enumerate(specimen_types(tests), start=1):
        work.session.add(new_specimen(order, specimen_type, number))
    await work.session.flush()
    work.audit(
        "lab.order.create",
        patient_id=request.patient_id,
        obj=("lab_order", order.id),
        placer=order.placer_number,
        tests=order.test_codes,
    )
    return order


def specimen_types(tests: list[LabTest]) -> list[str]:
    return list(dict.fromkeys(t.specimen_type or "blood_edta" for t in tests))


def new_specimen(order: LabOrder, specimen_type: str, number: int) -> Specimen:
    """A specimen with its printable label: the placer number and a tube number."""
    return Specimen(
        order_id=order.id,
        label=f"{order.placer_number}-{number:02d}",
        specimen_type=specimen_type,
        status=SpecimenStatus.PENDING,
    )


async def readable(work: Work, order_id: int, action: str) -> LabOrder:
    """The order if the caller may read its request (scoped, consent-checked, audited)."""
    return await readable_child(work, LabOrder, order_id, action, "lab order")


async def specimens_of(work: Work, order_ids: list[int]) -> dict[int, list[Specimen]]:
    rows = await work.session.scalars(
        select(Specimen).where(Specimen.order_id.in_(order_ids)).order_by(Specimen.id)
    )
    found: dict[int, list[Specimen]] = {i: [] for i in order_ids}
    for row in rows:
        found[row.order_id].append(row)
    return found


async def list_visible(
    work: Work, *, patient_id: int | None = None, open_only: bool = False, limit: int = 200
) -> list[LabOrder]:
    """Orders whose requests the caller may see, newest first."""
    query = (
        select(LabOrder)
        .join(DiagnosticRequest, DiagnosticRequest.id == LabOrder.request_id)
        .where(request_clause(work.principal))
    )
    if patient_id is not None:
        query = query.where(LabOrder.patient_id == patient_id)
    if open_only:
        query = query.where(LabOrder.status.not_in([OrderStatus.RELEASED, OrderStatus.CANCELLED]))
    rows = list(await work.session.scalars(query.order_by(LabOrder.id.desc()).limit(limit)))
    work.audit("lab.order.list", patient_ids=sorted({o.patient_id for o in rows}))
    return rows


def _lean() -> tuple[ORMOption, ...]:
    """Load an order with its request and patient in one query, and nothing else."""
    request = joinedload(LabOrder.request)
    return (
        request.lazyload(DiagnosticRequest.requesting_institution),
        request.joinedload(DiagnosticRequest.patient).lazyload(Patient.record_numbers),
    )


async def find_by_number(work: Work, placer: str, filler: str) -> LabOrder | None:
    """The order with this placer number, else this filler number (HL7 matching)."""
    if placer:
        order = await work.session.scalar(
            select(LabOrder).where(LabOrder.placer_number == placer).options(*_lean())
        )
        if order is not None:
            return order
    if filler:
        return await work.session.scalar(
            select(LabOrder).where(LabOrder.filler_number == filler).options(*_lean())
        )
    return None
