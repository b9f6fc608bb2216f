"""Diagnostic requests: the lifecycle (modelled on FHIR Task), deadlines and worklists."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, select

from consult import charges
from consult import notifications as notes
from consult.access import known_patient, readable_request, request_clause
from consult.center import Work
from consult.errors import Conflict, Forbidden, InvalidInput
from consult.institutions import county_department
from consult.lifecycle import Lifecycle
from consult.models import DiagnosticRequest
from consult.vocab import KIND_DEPARTMENT, Priority, RequestKind, RequestStatus

logger = logging.getLogger(__name__)

S = RequestStatus
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    S.REQUESTED: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.COMPLETED, S.CANCELLED, S.ON_HOLD}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.CANCELLED, S.ON_HOLD}),
    S.ON_HOLD: frozenset({S.ACCEPTED, S.IN_PROGRESS, S.CANCELLED}),
    S.REJECTED: frozenset(),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}
LIFECYCLE = Lifecycle("request", TRANSITIONS, label=lambda r: r.identifier)
KIND_LETTER = {
    RequestKind.ECG_READ: "E",
    RequestKind.IMAGING_READ: "I",
    RequestKind.LAB_TEST: "L",
    RequestKind.VIDEO_CONSULT: "V",
}
KIND_ZH = {
    RequestKind.ECG_READ: "心电图诊断",
    RequestKind.IMAGING_READ: "影像诊断",
    RequestKind.LAB_TEST: "检验",
    RequestKind.VIDEO_CONSULT: "视频会诊",
}


@dataclass(frozen=True)
class NewRequest:
    patient_id: int
    kind: RequestKind
    priority: Priority = Priority.ROUTINE
    clinical_question: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def set_status(request: DiagnosticRequest, new: RequestStatus, now: dt.datetime) -> None:
    """The one setter of a request's status: checks the transition and logs it."""
    LIFECYCLE.set(request, new, now)


async def create(work: Work, data: NewRequest, *, notify: bool = True) -> DiagnosticRequest:
    """A clinic sends a request for one of its patients to the county."""
    principal = work.principal
    if not (principal.is_clinic or principal.system):
        work.deny("request.create", patient_id=data.patient_id)
        raise Forbidden("requests are made by clinic doctors")
    patient = await known_patient(work, data.patient_id, "request.create")
    department = await county_department(work, KIND_DEPARTMENT[data.kind])
    request = DiagnosticRequest(
        identifier=uuid.uuid4().hex[:16],
        kind=data.kind,
        priority=data.priority,
        status=RequestStatus.REQUESTED,
        patient_id=patient.id,
        requesting_institution_id=(
            principal.institution_id if principal.is_clinic else patient.home_institution_id
        ),
        requester_id=principal.user_id or None,
        department_id=department.id,
        clinical_question=data.clinical_question.strip(),
        details=data.details,
        created_at=work.now,
        updated_at=work.now,
        due_at=work.policy.due(data.kind, data.priority, work.now),
    )
    work.session.add(request)
    await work.session.flush()
    request.identifier = f"{KIND_LETTER[data.kind]}{work.now:%y%m%d}{request.id:06d}"
    await charges.create_for(work, request)  # -- charges: in the request's transaction --
    work.audit(
        "request.create", patient_id=patient.id, obj=("request", request.id), kind=str(data.kind)
    )
    if notify:
        await notes.notify(
            work,
            await notes.specialists_for(work, data.kind),
            "request.received",
            f"新{KIND_ZH[data.kind]}申请 {request.identifier}",
            f"New {data.kind} request {request.identifier}",
            request_id=request.id,
            priority=str(request.priority),
        )
    return request


async def get(work: Work, request_id: int) -> DiagnosticRequest:
    return await readable_request(work, request_id, "request.read")


async def list_visible(
    work: Work,
    *,
    kind: RequestKind | None = None,
    status: RequestStatus | None = None,
    patient_id: int | None = None,
    open_only: bool = False,
    limit: int = 200,
) -> list[DiagnosticRequest]:
    """Requests the caller may see, newest first."""
    query = select(DiagnosticRequest).where(request_clause(work.principal))
    if kind is not None:
        query = query.where(DiagnosticRequest.kind == kind)
    if status is not None:
        query = query.where(DiagnosticRequest.status == status)
    if patient_id is not None:
        query = query.where(DiagnosticRequest.patient_id == patient_id)
    if open_only:
        query = query.where(DiagnosticRequest.status.in_([s for s in RequestStatus if s.is_open]))
    rows = list(
        await work.session.scalars(query.order_by(DiagnosticRequest.id.desc()).limit(limit))
    )
    work.audit_patients("request.list", (r.patient_id for r in rows))
    return rows


async def worklist(
    work: Work, kind: RequestKind | None = None, limit: int = 200
) -> list[DiagnosticRequest]:
    """A specialist's open requests: critical first, then priority, then the nearest deadline."""
    kinds = work.principal.kinds
    if not kinds:
        raise Forbidden("worklists belong to county specialists")
    if kind is not None and kind not in kinds:
        raise Forbidden(f"{work.principal.role} does not work {kind} requests")
    priority_rank = case(
        (DiagnosticRequest.priority == Priority.STAT, 2),
        (DiagnosticRequest.priority == Priority.URGENT, 1),
        else_=0,
    )
    query = (
        select(DiagnosticRequest)
        .where(
            DiagnosticRequest.kind.in_([kind] if kind else kinds),
            DiagnosticRequest.status.in_([s for s in RequestStatus if s.is_open]),
        )
        .order_by(
            DiagnosticRequest.critical.desc(),
            priority_rank.desc(),
            DiagnosticRequest.due_at,
            DiagnosticRequest.id,
        )
        .limit(limit)
    )
    rows = list(await work.session.scalars(query))
    work.audit_patients("worklist.read", (r.patient_id for r in rows))
    return rows


async def _performer_check(work: Work, request: DiagnosticRequest) -> None:
    if request.kind not in work.principal.kinds:
        work.deny("request.transition", patient_id=request.patient_id, obj=("request", request.id))
        raise Forbidden(f"{work.principal.role} does not work {request.kind} requests")


async def accept(work: Work, request_id: int) -> DiagnosticRequest:
    request = await readable_request(work, request_id, "request.accept")
    await _performer_check(work, request)
    await claim(work, request)
    await notes.notify(
        work,
        await notes.clinic_users_for(work, request),
        "request.accepted",
        f"{KIND_ZH[request.kind]}申请 {request.identifier} 已接收",
        f"Request {request.identifier} accepted by {work.principal.display_name}",
        request_id=request.id,
    )
    return request


async def claim(work: Work, request: DiagnosticRequest) -> None:
    """Make the caller the request's one owner: requested -> accepted, in one guarded UPDATE.

    Of two specialists accepting at the same moment one wins; the other gets a 409
    ``request_taken`` (the request is no longer ``requested``).
    """
    if request.status in (S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD):
        raise Conflict(
            f"request {request.identifier} is already {request.status}", code="request_taken"
        )
    await LIFECYCLE.claim(
        work.session,
        request,
        RequestStatus.ACCEPTED,
        work.now,
        code="request_taken",
        message=f"request {request.identifier} was accepted by someone else",
        performer_id=work.principal.user_id,
        accepted_at=work.now,
    )
    work.audit("request.accept", patient_id=request.patient_id, obj=("request", request.id))


async def reject(work: Work, request_id: int, reason: str) -> DiagnosticRequest:
    if not reason.strip():
        raise InvalidInput("a rejection needs a reason", field="reason")
    request = await readable_request(work, request_id, "request.reject")
    await _performer_check(work, request)
    set_status(request, RequestStatus.REJECTED, work.now)
    request.status_reason = reason.strip()
    await charges.on_cancel(work, request, reason)  # -- charges: void or refund --
    await _ended(work, request)
    await notes.notify(
        work,
        await notes.clinic_users_for(work, request),
        "request.rejected",
        f"{KIND_ZH[request.kind]}申请 {request.identifier} 被退回: {reason.strip()}",
        f"Request {request.identifier} rejected: {reason.strip()}",
        request_id=request.id,
    )
    return request


async def start(work: Work, request_id: int) -> DiagnosticRequest:
    request = await readable_request(work, request_id, "request.start")
    await _performer_check(work, request)
    if request.status is RequestStatus.REQUESTED:
        await claim(work, request)
    elif request.kind is not RequestKind.LAB_TEST:
        from consult.ownership import require_owner

        require_owner(work, request, "request.start")
    set_status(request, RequestStatus.IN_PROGRESS, work.now)
    return request


async def cancel(work: Work, request_id: int, reason: str) -> DiagnosticRequest:
    request = await readable_request(work, request_id, "request.cancel")
    if not work.principal.is_clinic:
        raise Forbidden("only the requesting clinic cancels a request")
    # -- charges: a guarded change, so that of two cancellations racing one wins (and refunds)
    await LIFECYCLE.claim(
        work.session,
        request,
        RequestStatus.CANCELLED,
        work.now,
        code="request_changed",
        message=f"request {request.identifier} was changed by someone else",
    )
    request.status_reason = reason.strip()
    await charges.on_cancel(work, request, reason)
    await _ended(work, request)
    if request.performer_id:
        await notes.notify(
            work,
            {request.performer_id},
            "request.cancelled",
            f"申请 {request.identifier} 已取消",
            f"Request {request.identifier} cancelled",
            request_id=request.id,
        )
    return request


async def _ended(work: Work, request: DiagnosticRequest) -> None:
    """A cancelled or rejected request: the other packages let go of it (a scheduled step)."""
    for hook in work.center.end_hooks:  # -- modality worklist: discontinue the step --
        await hook(work, request)


def complete(request: DiagnosticRequest, now: dt.datetime) -> None:
    """Mark the request done (a report was signed)."""
    if request.status is not RequestStatus.COMPLETED:
        set_status(request, RequestStatus.COMPLETED, now)
        request.completed_at = now


async def mark_critical(
    work: Work, request: DiagnosticRequest, reason: str, reason_zh: str | None = None
) -> None:
    """A critical finding: raise the request to stat, move its deadline, alert the specialists."""
    request.critical = True
    request.critical_reason = reason
    request.critical_reason_zh = reason_zh or reason
    if request.priority is not Priority.STAT:
        request.priority = Priority.STAT
        request.due_at = min(
            request.due_at, work.policy.due(request.kind, Priority.STAT, request.created_at)
        )
    request.updated_at = work.now
    work.audit(
        "request.critical",
        patient_id=request.patient_id,
        obj=("request", request.id),
        reason=reason,
    )
    await notes.notify(
        work,
        await notes.specialists_for(work, request.kind),
        "critical",
        f"危急: {request.identifier} {reason_zh or reason}",
        f"CRITICAL: {request.identifier} {reason}",
        request_id=request.id,
        critical=True,
        priority="stat",
    )


async def flag_overdue(work: Work) -> int:
    """Notify once about each open request past its deadline; return how many were flagged."""
    rows = await work.session.scalars(
        select(DiagnosticRequest).where(
            DiagnosticRequest.status.in_([s for s in RequestStatus if s.is_open]),
            DiagnosticRequest.due_at < work.now,
            DiagnosticRequest.overdue_notified_at.is_(None),
        )
    )
    count = 0
    for request in rows:
        request.overdue_notified_at = work.now
        users = await notes.clinic_users_for(work, request)
        users |= (
            {request.performer_id}
            if request.performer_id
            else await notes.specialists_for(work, request.kind)
        )
        await notes.notify(
            work,
            users,
            "request.overdue",
            f"{KIND_ZH[request.kind]}申请 {request.identifier} 已超时",
            f"Request {request.identifier} is overdue",
            request_id=request.id,
        )
        count += 1
    return count


def is_overdue(request: DiagnosticRequest, now: dt.datetime) -> bool:
    return request.status.is_open and request.due_at < now
