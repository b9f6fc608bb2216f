"""Reports: drafts, signing (final and immutable), amendments as new versions, delivery."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select

from consult import conclusions, verification
from consult import notifications as notes
from consult import requests as requests_
from consult.access import readable_request
from consult.center import Work
from consult.errors import Conflict, Forbidden, InvalidInput, NotFound
from consult.lifecycle import Lifecycle
from consult.models import DiagnosticRequest, Report, ReportDelivery
from consult.ownership import ensure_owner
from consult.quality_tables import SecondReading, SecondReadingStatus, unreleased
from consult.vocab import ReportStatus, RequestKind, RequestStatus

LIFECYCLE = Lifecycle(
    "report",
    {
        ReportStatus.DRAFT: {ReportStatus.FINAL},
        ReportStatus.FINAL: set(),
        ReportStatus.AMENDED: set(),
    },
    stamp="signed_at",
)
"""A draft is signed once; an amendment is a new row, created amended."""


def standing_clause() -> ColumnElement[bool]:
    """SQL condition on :class:`Report`: the signed version that stands (not a draft, not
    superseded by an amendment)."""
    return and_(Report.status != ReportStatus.DRAFT, Report.superseded_by_id.is_(None))


OUTCOMES = ("positive", "negative")
"""``data.outcome`` of a report: the reader's call whether the exam found disease (阳性 / 阴性),
the figure the community's positive rates are counted from."""


def _consult_data(
    work: Work, request: DiagnosticRequest, data: dict[str, Any] | None, *, signing: bool
) -> dict[str, Any]:
    outcome = (data or {}).get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInput("the outcome is positive or negative", field="outcome")
    if request.kind is not RequestKind.VIDEO_CONSULT:
        return data or {}
    return conclusions.clean_data(request, data or {}, work.now, signing=signing)


def content_hash(report: Report) -> str:
    body = {
        "request_id": report.request_id,
        "version": report.version,
        "findings": report.findings,
        "impression": report.impression,
        "data": report.data,
        "signed_by": report.signed_by,
        "signed_at": report.signed_at.isoformat() if report.signed_at else None,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def _performer_request(work: Work, request_id: int, action: str) -> DiagnosticRequest:
    request = await readable_request(work, request_id, action)
    if request.kind not in work.principal.kinds:
        work.deny(action, patient_id=request.patient_id, obj=("request", request.id))
        raise Forbidden("only the county specialists of this kind write its reports")
    return request


async def write_draft(
    work: Work,
    request_id: int,
    *,
    findings: str,
    impression: str,
    data: dict[str, Any] | None = None,
) -> Report:
    """Create or replace the draft of a request's report (the request becomes in progress)."""
    request = await _performer_request(work, request_id, "report.draft")
    if not request.status.is_open:
        raise Conflict(f"request {request.identifier} is {request.status}; no new report")
    await _refuse_while_second_reading(work, request)
    await ensure_owner(work, request, "report.draft")
    data = _consult_data(work, request, data, signing=False)
    if request.status is not RequestStatus.IN_PROGRESS:
        await requests_.start(work, request.id)
    draft = await work.session.scalar(
        select(Report).where(Report.request_id == request.id, Report.status == ReportStatus.DRAFT)
    )
    if draft is None:
        version = await _next_version(work, request.id)
        draft = Report(
            request_id=request.id,
            version=version,
            status=ReportStatus.DRAFT,
            author_id=work.principal.user_id,
        )
        work.session.add(draft)
    draft.findings, draft.impression, draft.data = findings, impression, data or {}
    await work.session.flush()
    work.audit("report.draft", patient_id=request.patient_id, obj=("report", draft.id))
    return await _with_people(work, draft)


async def _with_people(work: Work, report: Report) -> Report:
    """Load the author and signer (names shown with the report) after a change."""
    await work.session.flush()
    await work.session.refresh(report, ["author", "signer"])
    return report


async def _next_version(work: Work, request_id: int) -> int:
    current = await work.session.scalar(
        select(func.max(Report.version)).where(Report.request_id == request_id)
    )
    return (current or 0) + 1


async def _report_for_performer(
    work: Work, report_id: int, action: str
) -> tuple[Report, DiagnosticRequest]:
    report = await work.session.get(Report, report_id)
    if report is None:
        raise NotFound(f"no report {report_id}")
    try:
        request = await _performer_request(work, report.request_id, action)
    except NotFound:
        raise NotFound(f"no report {report_id}") from None
    return report, request


async def update_draft(
    work: Work,
    report_id: int,
    *,
    findings: str | None,
    impression: str | None,
    data: dict[str, Any] | None,
) -> Report:
    report, request = await _report_for_performer(work, report_id, "report.draft")
    if report.status is not ReportStatus.DRAFT:
        raise Conflict("a signed report is immutable; amend it instead")
    await ensure_owner(work, request, "report.draft")
    if data is not None:
        data = _consult_data(work, request, data, signing=False)
    if findings is not None:
        report.findings = findings
    if impression is not None:
        report.impression = impression
    if data is not None:
        report.data = data
    work.audit("report.draft", patient_id=request.patient_id, obj=("report", report.id))
    return await _with_people(work, report)


async def sign(work: Work, report_id: int) -> Report:
    """Sign a draft: it becomes final, the request completes, the clinic receives it."""
    report, request = await _report_for_performer(work, report_id, "report.sign")
    if report.status is not ReportStatus.DRAFT:
        raise Conflict("report is already signed")
    await ensure_owner(work, request, "report.sign")
    if not (report.findings.strip() or report.impression.strip()):
        raise InvalidInput(
            "a report needs findings or an impression before signing", field="findings"
        )
    report.data = _consult_data(work, request, report.data, signing=True)
    for check in work.center.sign_checks:  # -- long ECG reading: e.g. the tracing was seen --
        await check(work, report, request)
    LIFECYCLE.set(report, ReportStatus.FINAL, work.now)
    report.signed_by = work.principal.user_id
    report.content_hash = content_hash(report)
    report.verify_token = verification.new_token()
    work.audit("report.sign", patient_id=request.patient_id, obj=("report", report.id))
    if not await _held_for_second_reading(work, report, request):
        await release(work, report, request)
    return await _with_people(work, report)


async def release(work: Work, report: Report, request: DiagnosticRequest) -> None:
    """The request completes and the clinic receives the signed report."""
    requests_.complete(request, work.now)
    await _deliver(work, report, request, "report.signed", "报告已签发", "Report signed")


async def _held_for_second_reading(work: Work, report: Report, request: DiagnosticRequest) -> bool:
    """Record the second-reading decision of a first signed report; True when it waits."""
    rule = work.center.policy.second_reading.get(request.kind)
    if rule is None or report.version != 1:
        return False
    required, bucket = rule.decide(request.priority, request.identifier)
    work.session.add(
        SecondReading(
            request_id=request.id,
            report_id=report.id,
            kind=request.kind.value,
            priority=request.priority.value,
            required=required,
            sample_bucket=bucket,
            status=SecondReadingStatus.PENDING if required else SecondReadingStatus.NOT_REQUIRED,
            first_reader_id=work.principal.user_id,
            signed_at=work.now,
        )
    )
    await work.session.flush()
    if required:
        work.audit(
            "report.second_reading.required",
            patient_id=request.patient_id,
            obj=("report", report.id),
            bucket=bucket,
        )
    return required


async def _refuse_while_second_reading(work: Work, request: DiagnosticRequest) -> None:
    pending = await work.session.scalar(
        select(SecondReading.id).where(
            SecondReading.request_id == request.id,
            SecondReading.status == SecondReadingStatus.PENDING,
        )
    )
    if pending is not None:
        raise Conflict(
            f"报告 {request.identifier} 正在复核 / the report of {request.identifier} is "
            "waiting for its second reading",
            code="second_reading_pending",
        )


async def amend(
    work: Work,
    report_id: int,
    *,
    reason: str,
    findings: str,
    impression: str,
    data: dict[str, Any] | None = None,
) -> Report:
    """Correct a signed report by a new signed version; the earlier one is kept unchanged."""
    old, request = await _report_for_performer(work, report_id, "report.amend")
    if old.status is ReportStatus.DRAFT:
        raise Conflict("a draft is edited, not amended")
    await ensure_owner(work, request, "report.amend")
    if data is not None:
        data = _consult_data(work, request, data, signing=True)
    if old.superseded_by_id is not None:
        raise Conflict("only the latest version can be amended")
    await _refuse_while_second_reading(work, request)
    if not reason.strip():
        raise InvalidInput("an amendment needs a reason", field="reason")
    new = await _new_version(
        work,
        old,
        request,
        reason=reason.strip(),
        findings=findings,
        impression=impression,
        data=data,
    )
    return await _with_people(work, new)


async def amend_as_second_reader(
    work: Work,
    old: Report,
    request: DiagnosticRequest,
    *,
    reason: str,
    findings: str,
    impression: str,
) -> Report:
    """The second reader's correction of a major discrepancy (see :mod:`consult.second_reading`):
    a new signed version by the second reader, delivered as an amendment."""
    new = await _new_version(
        work, old, request, reason=reason, findings=findings, impression=impression, data=None
    )
    return await _with_people(work, new)


async def _new_version(
    work: Work,
    old: Report,
    request: DiagnosticRequest,
    *,
    reason: str,
    findings: str,
    impression: str,
    data: dict[str, Any] | None,
) -> Report:
    new = Report(
        request_id=old.request_id,
        version=await _next_version(work, old.request_id),
        status=ReportStatus.AMENDED,
        findings=findings,
        impression=impression,
        data=data if data is not None else old.data,
        author_id=work.principal.user_id,
        signed_by=work.principal.user_id,
        signed_at=work.now,
        supersedes_id=old.id,
        amendment_reason=reason,
        verify_token=verification.new_token(),
    )
    work.session.add(new)
    await work.session.flush()
    new.content_hash = content_hash(new)
    old.superseded_by_id = new.id
    work.audit(
        "report.amend", patient_id=request.patient_id, obj=("report", new.id), supersedes=old.id
    )
    await _deliver(work, new, request, "report.amended", "报告已更正", "Report amended")
    return new


async def _deliver(
    work: Work, report: Report, request: DiagnosticRequest, kind: str, zh: str, en: str
) -> None:
    work.session.add(
        ReportDelivery(
            report_id=report.id,
            institution_id=request.requesting_institution_id,
            delivered_at=work.now,
        )
    )
    for hook in work.center.report_hooks:  # -- HL7 results out: the clinic's HIS --
        await hook(work, report, request)
    await notes.notify(
        work,
        await notes.clinic_users_for(work, request),
        kind,
        f"{zh}: {request.identifier} {request.patient.name}",
        f"{en}: {request.identifier}",
        request_id=request.id,
        report_id=report.id,
        version=report.version,
    )


async def get(work: Work, report_id: int) -> Report:
    report = await work.session.get(Report, report_id)
    if report is None:
        raise NotFound(f"no report {report_id}")
    try:
        request = await readable_request(work, report.request_id, "report.read")
    except NotFound:
        raise NotFound(f"no report {report_id}") from None
    if request.kind not in work.principal.kinds and (
        report.status is ReportStatus.DRAFT or await _is_unreleased(work, report.id)
    ):
        raise NotFound(f"no report {report_id}")
    return report


async def _is_unreleased(work: Work, report_id: int) -> bool:
    held = await work.session.scalar(select(Report.id).where(Report.id == report_id, unreleased()))
    return held is not None


async def versions(work: Work, request_id: int) -> list[Report]:
    request = await readable_request(work, request_id, "report.list")
    query = select(Report).where(Report.request_id == request.id).order_by(Report.version)
    if request.kind not in work.principal.kinds:
        query = query.where(Report.status != ReportStatus.DRAFT, ~unreleased())
    return list(await work.session.scalars(query))


async def mark_read(work: Work, report_id: int) -> ReportDelivery:
    """The referring clinic marks a delivered report as read."""
    if not work.principal.is_clinic:
        raise Forbidden("delivered reports are read at the referring clinic")
    delivery = await work.session.scalar(
        select(ReportDelivery).where(
            ReportDelivery.report_id == report_id,
            ReportDelivery.institution_id.in_(work.principal.clinic_scope),
        )
    )
    if delivery is None:
        raise NotFound(f"no report {report_id}")
    if delivery.read_at is None:
        delivery.read_at = work.now
        delivery.read_by = work.principal.user_id
    work.audit(
        "report.read", patient_id=delivery.report.request.patient_id, obj=("report", report_id)
    )
    return delivery


async def inbox(work: Work, *, unread_only: bool = False, limit: int = 100) -> list[ReportDelivery]:
    """Signed reports delivered to the caller's clinic(s), newest first."""
    if not work.principal.is_clinic:
        raise Forbidden("the report inbox belongs to clinics")
    query = select(ReportDelivery).where(
        ReportDelivery.institution_id.in_(work.principal.clinic_scope)
    )
    if unread_only:
        query = query.where(ReportDelivery.read_at.is_(None))
    rows = list(await work.session.scalars(query.order_by(ReportDelivery.id.desc()).limit(limit)))
    work.audit_patients("report.inbox", (d.report.request.patient_id for d in rows))
    return rows


async def printable(work: Work, report_id: int) -> Report:
    """A signed report version for printing (scoped and audited like a read); a draft is refused."""
    report = await work.session.get(Report, report_id)
    if report is None:
        raise NotFound(f"no report {report_id}")
    try:
        request = await readable_request(work, report.request_id, "report.print")
    except NotFound:
        raise NotFound(f"no report {report_id}") from None
    if report.status is ReportStatus.DRAFT:
        if request.kind not in work.principal.kinds:
            raise NotFound(f"no report {report_id}")
        raise Conflict("报告未签发，不能打印 / only a signed report is printed")
    if report.verify_token is None:  # -- signed before tokens existed and missed by migration --
        report.verify_token = verification.new_token()
    return report
