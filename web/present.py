"""Turning domain objects into the API's output shapes where a field is computed or masked."""

from __future__ import annotations

import datetime as dt

from consult import masking
from consult.models import DiagnosticRequest, ReportDelivery
from consult.requests import is_overdue
from web.schemas import DeliveryOut, PatientBrief, ReportOut, RequestOut


def request_out(
    request: DiagnosticRequest, now: dt.datetime, *, show_patient: bool = True
) -> RequestOut:
    """A request as the API shows it; the patient is masked without consent
    (:mod:`consult.masking` decides what)."""
    shown = masking.view(request, shown=show_patient)
    return RequestOut(
        id=request.id,
        identifier=request.identifier,
        kind=request.kind,
        priority=request.priority,
        status=request.status,
        patient_id=request.patient_id,
        patient=PatientBrief.model_validate(shown.patient) if shown.patient else None,
        requesting_institution_id=request.requesting_institution_id,
        requesting_institution=request.requesting_institution.name,
        requester_id=request.requester_id,
        performer_id=request.performer_id,
        clinical_question=shown.clinical_question,
        status_reason=request.status_reason,
        critical=request.critical,
        critical_reason=request.critical_reason,
        critical_reason_zh=request.critical_reason_zh,
        details=shown.details,
        created_at=request.created_at,
        due_at=request.due_at,
        accepted_at=request.accepted_at,
        completed_at=request.completed_at,
        overdue=is_overdue(request, now),
    )


def delivery_out(delivery: ReportDelivery) -> DeliveryOut:
    request = delivery.report.request
    return DeliveryOut(
        report=ReportOut.model_validate(delivery.report),
        request_id=request.id,
        request_identifier=request.identifier,
        kind=request.kind,
        patient=PatientBrief.model_validate(request.patient),
        delivered_at=delivery.delivered_at,
        read_at=delivery.read_at,
        read_by=delivery.read_by,
    )
