"""One specialist owns a request: the assignee drafts and signs; reassignment and holds.

After accept only the assignee (``performer_id``) writes, signs or amends the request's report.
Taking a request over is an explicit, audited reassignment by the assignee or by the head of the
request's department. The assignee may put a request on hold with a question to the requesting
clinic; the clinic's answer resumes it.

Lab tests are worked by the laboratory as a team (the technician enters, another person
releases; see :mod:`lab.results`): their reports are not bound to one assignee, but holds and
reassignment work for them as for every kind.
"""

from __future__ import annotations

from sqlalchemy import select

from consult import notifications as notes
from consult import requests as requests_
from consult.access import readable_request
from consult.center import Work
from consult.errors import Conflict, Forbidden, InvalidInput
from consult.models import DiagnosticRequest, RequestHold, User
from consult.vocab import SPECIALIST_KINDS, RequestKind, RequestStatus

KIND_ZH = requests_.KIND_ZH


def require_owner(work: Work, request: DiagnosticRequest, action: str) -> None:
    """Refuse (403 ``not_assignee``) anyone but the assignee of an accepted request."""
    if request.performer_id is not None and request.performer_id != work.principal.user_id:
        work.deny(
            action,
            patient_id=request.patient_id,
            obj=("request", request.id),
            reason="not_assignee",
        )
        raise Forbidden(
            f"request {request.identifier} is assigned to another specialist", code="not_assignee"
        )


async def ensure_owner(work: Work, request: DiagnosticRequest, action: str) -> None:
    """Before writing a report: the caller owns the request, claiming it if nobody does yet."""
    if request.kind is RequestKind.LAB_TEST:
        return
    if request.status is RequestStatus.ON_HOLD:
        raise Conflict(
            f"request {request.identifier} is on hold, waiting for the clinic", code="on_hold"
        )
    if request.performer_id is None and request.status is RequestStatus.REQUESTED:
        await requests_.claim(work, request)
        return
    require_owner(work, request, action)


def _is_head_of(work: Work, request: DiagnosticRequest) -> bool:
    p = work.principal
    return (
        p.department_head
        and p.department_id is not None
        and p.department_id == request.department_id
        and request.kind in p.kinds
    )


async def reassign(work: Work, request_id: int, to_user_id: int, reason: str) -> DiagnosticRequest:
    """Hand an open request to another specialist of its kind (assignee or department head)."""
    request = await readable_request(work, request_id, "request.reassign")
    if not request.status.is_open or request.status is RequestStatus.REQUESTED:
        raise Conflict(
            f"request {request.identifier} is {request.status}; only an accepted request "
            "is reassigned",
            code="request_state",
        )
    mine = request.performer_id == work.principal.user_id
    if not (mine or _is_head_of(work, request)):
        work.deny("request.reassign", patient_id=request.patient_id, obj=("request", request.id))
        raise Forbidden(
            "a request is reassigned by its assignee or the department head", code="not_assignee"
        )
    target = await work.session.get(User, to_user_id)
    if target is None or not target.active or request.kind not in _kinds_of(target):
        raise InvalidInput(
            f"user {to_user_id} is not an active specialist of {request.kind}", field="to_user_id"
        )
    if target.id == request.performer_id:
        raise Conflict("the request is already assigned to this specialist", code="same_assignee")
    if not reason.strip():
        raise InvalidInput("a reassignment needs a reason", field="reason")
    previous = request.performer_id
    request.performer_id = target.id
    request.updated_at = work.now
    work.audit(
        "request.reassign",
        patient_id=request.patient_id,
        obj=("request", request.id),
        from_user=previous,
        to_user=target.id,
        by_head=not mine,
        reason=reason.strip(),
    )
    await notes.notify(
        work,
        {target.id} | ({previous} if previous and previous != work.principal.user_id else set()),
        "request.reassigned",
        f"{KIND_ZH[request.kind]}申请 {request.identifier} 已改派给 {target.display_name}",
        f"Request {request.identifier} reassigned to {target.display_name}",
        request_id=request.id,
        to_user=target.id,
    )
    return request


def _kinds_of(user: User) -> frozenset[RequestKind]:
    return SPECIALIST_KINDS.get(user.role, frozenset())


async def hold(work: Work, request_id: int, question: str) -> RequestHold:
    """The assignee asks the requesting clinic for more information; the request waits."""
    request = await readable_request(work, request_id, "request.hold")
    if request.kind not in work.principal.kinds:
        work.deny("request.hold", patient_id=request.patient_id, obj=("request", request.id))
        raise Forbidden(f"{work.principal.role} does not work {request.kind} requests")
    if not question.strip():
        raise InvalidInput("a hold needs a question for the clinic", field="question")
    if request.status is RequestStatus.REQUESTED:
        await requests_.claim(work, request)
    require_owner(work, request, "request.hold")
    resume = request.status
    requests_.set_status(request, RequestStatus.ON_HOLD, work.now)
    row = RequestHold(
        request_id=request.id,
        question=question.strip()[:4000],
        asked_by=work.principal.user_id,
        asked_at=work.now,
        resume_status=resume,
        answer="",
    )
    work.session.add(row)
    await work.session.flush()
    work.audit(
        "request.hold", patient_id=request.patient_id, obj=("request", request.id), hold=row.id
    )
    await notes.notify(
        work,
        await notes.clinic_users_for(work, request),
        "request.on_hold",
        f"{KIND_ZH[request.kind]}申请 {request.identifier} 需补充信息: {row.question}",
        f"Request {request.identifier} needs more information: {row.question}",
        request_id=request.id,
        hold_id=row.id,
    )
    await work.session.refresh(row, ["asker", "answerer"])
    return row


async def answer(work: Work, request_id: int, text: str) -> RequestHold:
    """The requesting clinic answers the open question; the request resumes."""
    request = await readable_request(work, request_id, "request.answer")
    if not work.principal.is_clinic:
        work.deny("request.answer", patient_id=request.patient_id, obj=("request", request.id))
        raise Forbidden("the requesting clinic answers the specialist's question")
    if not text.strip():
        raise InvalidInput("the answer is empty", field="answer")
    row = await open_hold(work, request.id)
    if row is None or request.status is not RequestStatus.ON_HOLD:
        raise Conflict(f"request {request.identifier} is not on hold", code="not_on_hold")
    await requests_.LIFECYCLE.claim(  # of two doctors answering at once, one resumes it
        work.session,
        request,
        row.resume_status,
        work.now,
        code="not_on_hold",
        message=f"request {request.identifier} was answered already",
    )
    row.answer = text.strip()[:4000]
    row.answered_by = work.principal.user_id
    row.answered_at = work.now
    work.audit(
        "request.answer", patient_id=request.patient_id, obj=("request", request.id), hold=row.id
    )
    if request.performer_id:
        await notes.notify(
            work,
            {request.performer_id},
            "request.resumed",
            f"{KIND_ZH[request.kind]}申请 {request.identifier} 诊所已答复: {row.answer}",
            f"Request {request.identifier}: the clinic answered: {row.answer}",
            request_id=request.id,
            hold_id=row.id,
        )
    await work.session.flush()
    await work.session.refresh(row, ["asker", "answerer"])
    return row


async def open_hold(work: Work, request_id: int) -> RequestHold | None:
    return await work.session.scalar(
        select(RequestHold)
        .where(RequestHold.request_id == request_id, RequestHold.answered_at.is_(None))
        .order_by(RequestHold.id.desc())
        .limit(1)
    )


async def holds(work: Work, request_id: int) -> list[RequestHold]:
    """Every question asked on a request and its answer, oldest first."""
    request = await readable_request(work, request_id, "request.holds")
    return list(
        await work.session.scalars(
            select(RequestHold).where(RequestHold.request_id == request.id).order_by(RequestHold.id)
        )
    )


async def colleagues(work: Work, request_id: int) -> list[User]:
    """The active specialists a request of this kind can be handed to (for the specialist)."""
    request = await readable_request(work, request_id, "request.colleagues")
    if request.kind not in work.principal.kinds:
        raise Forbidden(f"{work.principal.role} does not work {request.kind} requests")
    roles = [role for role, kinds in SPECIALIST_KINDS.items() if request.kind in kinds]
    return list(
        await work.session.scalars(
            select(User).where(User.role.in_(roles), User.active.is_(True)).order_by(User.id)
        )
    )
