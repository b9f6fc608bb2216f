"""Green-channel referrals: straight to a county department, slot reserved, loop closed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from consult import capacity
from consult import notifications as notes
from consult.access import (
    has_access_grant,
    known_patient,
    needs_consent,
    readable_request,
    request_clause,
)
from consult.capacity import CapacityConflict
from consult.center import Work
from consult.errors import ConsentRequired, Forbidden, InvalidInput, InvalidTransition, NotFound
from consult.institutions import county_department
from consult.lifecycle import Lifecycle
from consult.models import Department, DiagnosticRequest, Referral, Report, User
from consult.quality_tables import unreleased
from consult.vocab import OPEN_REFERRAL_STATES, Priority, ReferralStatus, ReportStatus, Role

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
    summary: str = ""


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
    if request_id is not None:
        await _refuse_second(work, request_id)
    referral = Referral(
        patient_id=patient_id,
        request_id=request_id,
        report_id=data.report_id,
        from_institution_id=from_institution,
        to_department_id=department.id,
        urgency=data.urgency,
        reason=data.reason.strip(),
        summary=data.summary.strip(),
        status=ReferralStatus.OPENED,
        opened_by=work.principal.user_id,
        opened_at=work.now,
    )
    work.session.add(referral)
    try:
        await work.session.flush()
    except IntegrityError as exc:
        if request_id is None or not _open_request_clash(exc):
            raise
        # a concurrent referral for the same request committed first: name it
        raise await _existing_conflict(work, request_id) from None
    work.audit(
        "referral.open",
        patient_id=patient_id,
        obj=("referral", referral.id),
        department=data.department,
    )
    await notes.notify(
        work,
        await receivers(work, department),
        "referral.opened",
        f"绿色通道转诊 #{referral.id} 至 {department.name}",
        f"Green-channel referral #{referral.id} to {department.name_en or department.code}",
        request_id=request_id,
        referral_id=referral.id,
        report_id=data.report_id,
        department=department.code,
        urgency=str(data.urgency),
    )
    return referral


def _open_request_clash(exc: IntegrityError) -> bool:
    """The unique index on open referrals per request refused the insert."""
    message = str(exc.orig)
    return "uq_referral_open_request" in message or "referral.request_id" in message


async def _refuse_second(work: Work, request_id: int) -> None:
    """At most one open referral per request (and so per report)."""
    first = await work.session.scalar(
        select(Referral).where(
            Referral.request_id == request_id, Referral.status.in_(OPEN_REFERRAL_STATES)
        )
    )
    if first is not None:
        raise _exists(first.id)


async def _existing_conflict(work: Work, request_id: int) -> CapacityConflict:
    """The conflict naming the open referral a concurrent transaction committed."""
    async with work.center.sessions() as session:
        first = await session.scalar(
            select(Referral.id).where(
                Referral.request_id == request_id, Referral.status.in_(OPEN_REFERRAL_STATES)
            )
        )
    return _exists(first)


def _exists(first_id: int | None) -> CapacityConflict:
    return CapacityConflict(
        f"this request already has open referral #{first_id}",
        f"该报告已有未结束的转诊 #{first_id}",
        code="referral_exists",
        referral_id=first_id,
    )


async def receivers(work: Work, department: Department) -> set[int]:
    """Who hears of a new referral: the referral desk and the receiving department's desk."""
    rows = await work.session.scalars(
        select(User.id).where(
            User.active.is_(True),
            or_(
                User.role == Role.REFERRAL_DESK,
                (User.role == Role.DEPARTMENT_DESK) & (User.department_id == department.id),
            ),
        )
    )
    return set(rows)


def referral_clause(work: Work) -> object:
    """SQL condition on :class:`Referral` for the referrals the caller may see."""
    p = work.principal
    if p.role is Role.REFERRAL_DESK:
        return True
    if p.is_clinic:
        return Referral.from_institution_id.in_(p.clinic_scope)
    if p.role is Role.DEPARTMENT_DESK:
        return Referral.to_department_id == (p.department_id or 0)
    if p.kinds:
        readable = select(DiagnosticRequest.id).where(request_clause(p))
        return or_(Referral.opened_by == p.user_id, Referral.request_id.in_(readable))
    return False


async def get(work: Work, referral_id: int) -> Referral:
    referral = await work.session.scalar(
        select(Referral)
        .where(Referral.id == referral_id, referral_clause(work))  # type: ignore[arg-type]
        .execution_options(populate_existing=True)
    )
    if referral is None:
        work.deny("referral.read", obj=("referral", referral_id))
        raise NotFound(f"no referral {referral_id}")
    work.audit("referral.read", patient_id=referral.patient_id, obj=("referral", referral.id))
    return referral


async def list_visible(
    work: Work,
    *,
    status: ReferralStatus | None = None,
    request_id: int | None = None,
    open_only: bool = False,
) -> list[Referral]:
    query = select(Referral).where(referral_clause(work))  # type: ignore[arg-type]
    if status is not None:
        query = query.where(Referral.status == status)
    if request_id is not None:
        query = query.where(Referral.request_id == request_id)
    if open_only:
        query = query.where(Referral.status.in_(OPEN_REFERRAL_STATES))
    rows = list(await work.session.scalars(query.order_by(Referral.id.desc()).limit(200)))
    work.audit_patients("referral.list", (r.patient_id for r in rows))
    return rows


async def _lock(work: Work, referral_id: int) -> None:
    """Take the referral's row lock (PostgreSQL) or the write lock (SQLite) before reading it.

    Two desks acting on one referral at once then see each other's result: the second finds the
    status already moved and gets a 409, never a second booking or a second release.
    """
    await work.session.execute(
        update(Referral)
        .where(Referral.id == referral_id)
        .values(id=Referral.id)
        .execution_options(synchronize_session=False)
    )


async def _desk_referral(work: Work, referral_id: int, action: str) -> Referral:
    """The referral, locked, for the referral desk or the receiving department's desk."""
    p = work.principal
    if p.role not in (Role.REFERRAL_DESK, Role.DEPARTMENT_DESK):
        work.deny(action, obj=("referral", referral_id))
        raise Forbidden("the referral desk or the receiving department handles referrals")
    await _lock(work, referral_id)
    return await get(work, referral_id)


async def report_of(work: Work, referral_id: int) -> Report:
    """The signed report behind a referral, for whoever may see the referral (audited)."""
    referral = await get(work, referral_id)
    query = select(Report).where(Report.status != ReportStatus.DRAFT, ~unreleased())
    if referral.report_id is not None:
        query = query.where(Report.id == referral.report_id)
    elif referral.request_id is not None:
        query = query.where(Report.request_id == referral.request_id)
    else:
        raise NotFound(f"referral {referral_id} has no report")
    report = await work.session.scalar(query.order_by(Report.version.desc()).limit(1))
    if report is None:
        raise NotFound(f"referral {referral_id} has no signed report")
    latest = report
    while latest.superseded_by_id is not None:
        newer = await work.session.get(Report, latest.superseded_by_id)
        if newer is None or newer.status is ReportStatus.DRAFT:
            break
        latest = newer
    if needs_consent(work.principal) and not await has_access_grant(work, referral.patient_id):
        work.deny("report.read", patient_id=referral.patient_id, obj=("report", latest.id))
        raise ConsentRequired("the patient's consent for the county is not active")
    work.audit(
        "report.read",
        patient_id=referral.patient_id,
        obj=("report", latest.id),
        via=f"referral:{referral.id}",
    )
    return latest


async def _tell_clinic(
    work: Work,
    referral: Referral,
    kind: str,
    zh: str,
    en: str,
    *,
    desks: bool = False,
    **extra: object,
) -> None:
    """Tell the sending clinic (and the opener); with ``desks``, the receiving desks too."""
    users = set(
        await work.session.scalars(
            select(User.id).where(
                User.institution_id == referral.from_institution_id, User.active.is_(True)
            )
        )
    )
    users.add(referral.opened_by)
    if desks:
        department = await work.session.get(Department, referral.to_department_id)
        if department is not None:
            users |= await receivers(work, department)
    await notes.notify(
        work, users, kind, zh, en, request_id=referral.request_id, referral_id=referral.id, **extra
    )


async def accept(work: Work, referral_id: int, *, slot_id: int) -> Referral:
    """Accept into one published slot of the receiving department (books one place)."""
    referral = await _desk_referral(work, referral_id, "referral.accept")
    _own_department(work, referral, "referral.accept")
    set_status(referral, ReferralStatus.ACCEPTED)
    slot = await capacity.book(work, slot_id, referral.to_department_id)
    referral.accepted_by = work.principal.user_id
    referral.accepted_at = work.now
    referral.slot_id = slot.id
    referral.slot_at = slot.starts_at
    referral.slot_place = slot.place
    work.audit(
        "referral.accept",
        patient_id=referral.patient_id,
        obj=("referral", referral.id),
        slot_id=slot.id,
    )
    zh, en = capacity.local_label(work, slot.starts_at)
    await _tell_clinic(
        work,
        referral,
        "referral.accepted",
        f"转诊 #{referral.id} 已接收: {zh} {slot.place}",
        f"Referral #{referral.id} accepted: {en} {slot.place}",
        desks=True,
        slot_id=slot.id,
        slot_at=slot.starts_at.isoformat(),
        slot_place=slot.place,
    )
    return referral


def _own_department(work: Work, referral: Referral, action: str) -> None:
    p = work.principal
    if p.role is Role.DEPARTMENT_DESK and p.department_id != referral.to_department_id:
        work.deny(action, obj=("referral", referral.id))
        raise Forbidden("a department handles its own incoming referrals")


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
    """Cancel (the opener, the referral desk or the receiving department); frees a booked slot."""
    if not reason.strip():
        raise InvalidInput("a cancellation needs a reason", field="reason")
    await _lock(work, referral_id)
    referral = await get(work, referral_id)
    p = work.principal
    if not (
        p.role is Role.REFERRAL_DESK
        or referral.opened_by == p.user_id
        or (p.role is Role.DEPARTMENT_DESK and p.department_id == referral.to_department_id)
    ):
        raise Forbidden("a referral is cancelled by its opener or the receiving desks")
    booked = referral.status is ReferralStatus.ACCEPTED and referral.slot_id is not None
    set_status(referral, ReferralStatus.CANCELLED)
    if booked and referral.slot_id is not None:
        await capacity.release(work, referral.slot_id)
    referral.cancelled_reason = reason.strip()
    work.audit("referral.cancel", patient_id=referral.patient_id, obj=("referral", referral.id))
    await _tell_clinic(
        work,
        referral,
        "referral.cancelled",
        f"转诊 #{referral.id} 已取消",
        f"Referral #{referral.id} cancelled",
        desks=True,
    )
    return referral
