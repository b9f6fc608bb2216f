"""Green-channel referrals: straight to a county department, slot reserved, loop closed."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select

from consult import notifications as notes
from consult.access import known_patient, readable_request
from consult.center import Work
from consult.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from consult.institutions import county_department
from consult.lifecycle import Lifecycle
from consult.models import Referral, Report, User
from consult.vocab import Priority, ReferralStatus, Role

logger = logging.getLogger(__name__)

R = ReferralStatus
TRANSITIONS: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    R.OPENED: frozenset({R.ACCEPTED, R.CANCELLED}),
    R.ACCEPTED: frozenset({R.ARRIVED, R.CANCELLED}),
    R.ARRIVED: frozenset({R.CLOSED}),
    R.CLOSED: frozenset(),
    R.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class NewReferral:
    department: str
    reason: str
    urgency: Priority = Priority.URGENT
    request_id: int | None = None
    report_id: int | None = None
    patient_id: int | None = None


LIFECYCLE = Lifecycle("referral", TRANSITIONS, stamp=None)


def set_status(referral: Referral, new: ReferralStatus) -> None:
    """The one setter of a referral's status (the table above, checked and logged)."""
    LIFECYCLE.set(referral, new)


async def open_referral(work: Work, data: NewReferral) -> Referral:
    """Open a referral from a request or its report (specialist), or for a patient (clinic)."""
    if not data.reason.strip():
        raise InvalidInput("a referral needs a reason", field="reason")
    request_id = data.request_id
    if data.report_id is not None:
        report = await work.session.get(Report, data.report_id)
        if report is None:
            raise NotFound(f"no report {data.report_id}")
        request_id = report.request_id
    if request_id is not None:
        request = await readable_request(work, request_id, "referral.open")
        patient_id, from_institution = request.patient_id, request.requesting_institution_id
    elif data.patient_id is not None and work.principal.is_clinic:
        patient = await known_patient(work, data.patient_id, "referral.open")
        patient_id, from_institution = patient.id, patient.home_institution_id
    else:
        raise InvalidInput(
            "a referral comes from a request, a report or (clinics) a patient", field="request_id"
        )
    if not (work.principal.is_clinic or work.principal.kinds):
        raise Forbidden("referrals are opened by clinics and county specialists")
    department = await county_department(work, data.department)
    referral = Referral(
        patient_id=patient_id,
        request_id=request_id,
        report_id=data.report_id,
        from_institution_id=from_institution,
        to_department_id=department.id,
        urgency=data.urgency,
        reason=data.reason.strip(),
        status=ReferralStatus.OPENED,
        opened_by=work.principal.user_id,
        opened_at=work.now,
    )
    work.session.add(referral)
    await work.session.flush()
    work.audit(
        "referral.open",
        patient_id=patient_id,
        obj=("referral", referral.id),
        department=data.department,
    )
    await notes.notify(
        work,
        await notes.users_with_role(work, Role.REFERRAL_DESK),
        "referral.opened",
        f"绿色通道转诊 #{referral.id} 至 {department.name}",
        f"Green-channel referral #{referral.id} to {department.name_en or department.code}",
        request_id=request_id,
        referral_id=referral.id,
        urgency=str(data.urgency),
    )
    return referral


def _referral_clause(work: Work) -> object:
    p = work.principal
    if p.role is Role.REFERRAL_DESK:
        return True
    if p.is_clinic:
        return Referral.from_institution_id.in_(p.clinic_scope)
    if p.kinds:
        return Referral.opened_by == p.user_id
    return False


async def get(work: Work, referral_id: int) -> Referral:
    referral = await work.session.scalar(
        select(Referral).where(Referral.id == referral_id, _referral_clause(work))  # type: ignore[arg-type]
    )
    if referral is None:
        work.deny("referral.read", obj=("referral", referral_id))
        raise NotFound(f"no referral {referral_id}")
    work.audit("referral.read", patient_id=referral.patient_id, obj=("referral", referral.id))
    return referral


async def list_visible(work: Work, *, status: ReferralStatus | None = None) -> list[Referral]:
    query = select(Referral).where(_referral_clause(work))  # type: ignore[arg-type]
    if status is not None:
        query = query.where(Referral.status == status)
    rows = list(await work.session.scalars(query.order_by(Referral.id.desc()).limit(200)))
    work.audit("referral.list", patient_ids=sorted({r.patient_id for r in rows}))
    return rows


async def _desk_referral(work: Work, referral_id: int, action: str) -> Referral:
    if work.principal.role is not Role.REFERRAL_DESK:
        work.deny(action, obj=("referral", referral_id))
        raise Forbidden("the referral desk handles referrals")
    return await get(work, referral_id)


async def _tell_clinic(
    work: Work, referral: Referral, kind: str, zh: str, en: str, **extra: object
) -> None:
    users = set(
        await work.session.scalars(
            select(User.id).where(
                User.institution_id == referral.from_institution_id, User.active.is_(True)
            )
        )
    )
    users.add(referral.opened_by)
    await notes.notify(
        work, users, kind, zh, en, request_id=referral.request_id, referral_id=referral.id, **extra
    )


async def accept(
    work: Work, referral_id: int, *, slot_at: dt.datetime, slot_place: str
) -> Referral:
    referral = await _desk_referral(work, referral_id, "referral.accept")
    if slot_at <= work.now:
        raise InvalidInput("the reserved slot must be in the future", field="slot_at")
    if not slot_place.strip():
        raise InvalidInput("the slot needs a place", field="slot_place")
    set_status(referral, ReferralStatus.ACCEPTED)
    referral.accepted_by = work.principal.user_id
    referral.accepted_at = work.now
    referral.slot_at = slot_at
    referral.slot_place = slot_place.strip()
    work.audit("referral.accept", patient_id=referral.patient_id, obj=("referral", referral.id))
    await _tell_clinic(
        work,
        referral,
        "referral.accepted",
        f"转诊 #{referral.id} 已接收: {slot_at.isoformat()} {slot_place}",
        f"Referral #{referral.id} accepted: {slot_at.isoformat()} {slot_place}",
        slot_at=slot_at.isoformat(),
        slot_place=referral.slot_place,
    )
    return referral


async def arrive(work: Work, referral_id: int) -> Referral:
    referral = await _desk_referral(work, referral_id, "referral.arrive")
    set_status(referral, ReferralStatus.ARRIVED)
    referral.arrived_at = work.now
    work.audit("referral.arrive", patient_id=referral.patient_id, obj=("referral", referral.id))
    return referral


async def close(work: Work, referral_id: int, *, summary: str = "") -> Referral:
    """Close the loop; a summary sends the back-referral to the township."""
    referral = await _desk_referral(work, referral_id, "referral.close")
    set_status(referral, ReferralStatus.CLOSED)
    referral.closed_at = work.now
    work.audit("referral.close", patient_id=referral.patient_id, obj=("referral", referral.id))
    if summary.strip():
        await _back_refer(work, referral, summary)
    return referral


async def back_refer(work: Work, referral_id: int, summary: str) -> Referral:
    referral = await _desk_referral(work, referral_id, "referral.back")
    if referral.status not in (ReferralStatus.ARRIVED, ReferralStatus.CLOSED):
        raise InvalidTransition("a back-referral follows the patient's arrival")
    if not summary.strip():
        raise InvalidInput("a back-referral needs a summary", field="summary")
    await _back_refer(work, referral, summary)
    return referral


async def _back_refer(work: Work, referral: Referral, summary: str) -> None:
    referral.back_referral_summary = summary.strip()
    referral.back_referred_at = work.now
    work.audit("referral.back", patient_id=referral.patient_id, obj=("referral", referral.id))
    await _tell_clinic(
        work,
        referral,
        "referral.back",
        f"转诊 #{referral.id} 回转: {summary.strip()[:80]}",
        f"Back-referral for #{referral.id}",
    )


async def cancel(work: Work, referral_id: int, reason: str) -> Referral:
    referral = await get(work, referral_id)
    if not (
        work.principal.role is Role.REFERRAL_DESK or referral.opened_by == work.principal.user_id
    ):
        raise Forbidden("a referral is cancelled by its opener or the referral desk")
    if not reason.strip():
        raise InvalidInput("a cancellation needs a reason", field="reason")
    set_status(referral, ReferralStatus.CANCELLED)
    referral.cancelled_reason = reason.strip()
    work.audit("referral.cancel", patient_id=referral.patient_id, obj=("referral", referral.id))
    await _tell_clinic(
        work,
        referral,
        "referral.cancelled",
        f"转诊 #{referral.id} 已取消",
        f"Referral #{referral.id} cancelled",
    )
    return referral
