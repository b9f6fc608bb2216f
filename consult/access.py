"""Who may see which patient and which request: the one place for scoping rules.

- Clinic doctors see the patients registered at their clinic (a township: also at the village
  clinics under it) and the requests those clinics sent.
- County specialists see the requests of the kinds they work, and a patient's record only while
  the patient's consent for the county is active, or under their own emergency override.
- The referral desk sees the patients and referrals sent to the county's departments.
- Anything out of scope is *not found*, so its existence is not revealed.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from consult.center import Work
from consult.errors import ConsentRequired, NotFound
from consult.models import (
    Consent,
    DiagnosticRequest,
    EmergencyOverride,
    Patient,
    Referral,
)
from consult.principal import Principal
from consult.vocab import ConsentScope, RequestKind, RequestStatus, Role


def patient_clause(principal: Principal) -> ColumnElement[bool]:
    """SQL condition on :class:`Patient` for the patients ``principal`` may know of."""
    if principal.system:
        return true()
    if principal.is_clinic:
        return Patient.home_institution_id.in_(principal.clinic_scope)
    if principal.kinds:
        return exists().where(DiagnosticRequest.patient_id == Patient.id, request_clause(principal))
    if principal.role is Role.REFERRAL_DESK:
        return exists().where(Referral.patient_id == Patient.id)
    # -- referrals: a department's desk knows the patients referred to it --
    if principal.role is Role.DEPARTMENT_DESK:
        return exists().where(
            Referral.patient_id == Patient.id,
            Referral.to_department_id == (principal.department_id or 0),
        )
    return false()


def request_clause(principal: Principal) -> ColumnElement[bool]:
    """SQL condition on :class:`DiagnosticRequest` for the requests ``principal`` may see.

    A consult specialist also sees the other requests (ECGs, images, labs) of the patients whose
    open video consult they perform: they co-view them with the clinic in the room.
    """
    if principal.system:
        return true()
    if principal.is_clinic:
        return DiagnosticRequest.requesting_institution_id.in_(principal.clinic_scope)
    if not principal.kinds:
        return false()
    own_kinds = DiagnosticRequest.kind.in_(principal.kinds)
    if RequestKind.VIDEO_CONSULT not in principal.kinds:
        return own_kinds
    return or_(own_kinds, DiagnosticRequest.patient_id.in_(_consulting(principal)))


def _consulting(principal: Principal) -> Select[int]:
    """Patients of the open video consults ``principal`` performs."""
    consult = aliased(DiagnosticRequest)
    return select(consult.patient_id).where(
        consult.kind == RequestKind.VIDEO_CONSULT,
        consult.performer_id == principal.user_id,
        consult.status.in_([s for s in RequestStatus if s.is_open]),
    )


def needs_consent(principal: Principal) -> bool:
    """County staff read a patient's record under consent; the patient's own clinic does not."""
    return not (principal.is_clinic or principal.system)


def _active_consent(now: dt.datetime) -> ColumnElement[bool]:
    return and_(
        Consent.scope == ConsentScope.RECORDS,
        Consent.granted_at <= now,
        (Consent.withdrawn_at.is_(None)) | (Consent.withdrawn_at > now),
        (Consent.expires_at.is_(None)) | (Consent.expires_at > now),
    )


def _active_override(principal: Principal, now: dt.datetime) -> ColumnElement[bool]:
    return and_(EmergencyOverride.user_id == principal.user_id, EmergencyOverride.expires_at > now)


def readable_now_clause(principal: Principal, now: dt.datetime) -> ColumnElement[bool]:
    """SQL condition on :class:`Patient`: an active records consent or the caller's override.

    The rule :func:`readable_patient` applies to one record, for lists and searches.
    """
    return or_(
        exists().where(Consent.patient_id == Patient.id, _active_consent(now)),
        exists().where(
            EmergencyOverride.patient_id == Patient.id, _active_override(principal, now)
        ),
    )


async def has_access_grant(work: Work, patient_id: int) -> bool:
    """An active records consent, or an active override of the caller, covers ``patient_id``."""
    return bool(await granted_patients(work, {patient_id}))


async def granted_patients(work: Work, patient_ids: set[int]) -> set[int]:
    """Which of ``patient_ids`` the caller may read in full now."""
    if not needs_consent(work.principal):
        return set(patient_ids)
    if not patient_ids:
        return set()
    granted = await work.session.scalars(
        select(Patient.id).where(
            Patient.id.in_(patient_ids), readable_now_clause(work.principal, work.now)
        )
    )
    return set(granted)


async def known_patient(work: Work, patient_id: int, action: str) -> Patient:
    """The patient if the caller may know of it (no consent check); else not found."""
    patient = await work.session.scalar(
        select(Patient).where(Patient.id == patient_id, patient_clause(work.principal))
    )
    if patient is None:
        work.deny(action, patient_id=patient_id, obj=("patient", patient_id))
        raise NotFound(f"no patient {patient_id}")
    return patient


async def readable_patient(work: Work, patient_id: int, action: str) -> Patient:
    """The patient if the caller may read its record now; the read is audited."""
    patient = await known_patient(work, patient_id, action)
    await require_grant(work, patient_id, action)
    work.audit(action, patient_id=patient_id, obj=("patient", patient_id))
    return patient


async def require_grant(work: Work, patient_id: int, action: str) -> None:
    """County staff read a patient's record under an active records consent or their own
    override; without either the attempt is audited as denied and refused."""
    if needs_consent(work.principal) and not await has_access_grant(work, patient_id):
        work.deny(action, patient_id=patient_id, obj=("patient", patient_id), reason="no consent")
        raise ConsentRequired(
            f"patient {patient_id} has no active consent for the county center; "
            "an emergency override with a reason is needed"
        )


async def readable_request(work: Work, request_id: int, action: str) -> DiagnosticRequest:
    """The request if the caller may see it and read its patient; the read is audited."""
    request = await work.session.scalar(
        select(DiagnosticRequest).where(
            DiagnosticRequest.id == request_id, request_clause(work.principal)
        )
    )
    if request is None:
        work.deny(action, obj=("request", request_id))
        raise NotFound(f"no request {request_id}")
    if needs_consent(work.principal) and not await has_access_grant(work, request.patient_id):
        work.deny(
            action, patient_id=request.patient_id, obj=("request", request_id), reason="no consent"
        )
        raise ConsentRequired(f"patient of request {request_id} has no active consent")
    work.audit(action, patient_id=request.patient_id, obj=("request", request.id))
    return request


class BelongsToRequest(Protocol):
    """A row that hangs off a diagnostic request (an ECG, a lab order, ...)."""

    @property
    def request_id(self) -> int: ...


RowT = TypeVar("RowT", bound=BelongsToRequest)


async def readable_child(
    work: Work, model: type[RowT], row_id: int, action: str, what: str
) -> RowT:
    """The row if the caller may read its request (scoped, consent-checked, audited); its own
    absence and an out-of-scope request look the same: not found."""
    row = await work.session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {what} {row_id}")
    try:
        await readable_request(work, row.request_id, action)
    except NotFound:
        raise NotFound(f"no {what} {row_id}") from None
    return row
