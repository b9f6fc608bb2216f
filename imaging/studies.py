"""Studies as the API shows them: a request's studies, the reconciliation list and its
resolution (assigning an unmatched study to a patient).

Reconciliation is the work of the specialists of the kind (radiologists for images, ECG
specialists for DICOM ECG waveforms) and of the administrator; the sending clinic sees its own
waiting studies but does not assign them. Every list and every assignment is audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, select, true, update

from consult.access import known_patient, readable_request
from consult.center import Work
from consult.errors import Conflict, Forbidden, NotFound
from consult.identity import Reason, may_send_for
from consult.models import DiagnosticRequest, Institution
from consult.vocab import InstitutionLevel, RequestKind, Role
from imaging import linking
from imaging.index import ImagingPatient, ImagingReconciliation, ImagingSeries, ImagingStudy


@dataclass(frozen=True)
class StudySummary:
    id: int
    study_uid: str
    patient_id: int | None
    request_id: int | None
    institution_id: int
    study_date: str
    study_time: str
    accession_number: str
    description: str
    modalities: str
    num_series: int
    num_instances: int
    patient_name: str
    dicom_patient_id: str
    received_at: dt.datetime


@dataclass(frozen=True)
class ReconciliationItem:
    id: int
    study_pk: int
    study_uid: str
    reason: str
    opened_at: dt.datetime
    institution_id: int
    dicom_patient_id: str
    patient_name: str
    study_date: str
    description: str
    reason_code: str = ""
    reason_zh: str = ""
    reason_en: str = ""
    accession_number: str = ""
    modalities: str = ""
    resolved_at: dt.datetime | None = None
    patient_id: int | None = None
    request_id: int | None = None


def _summary(study: ImagingStudy, patient: ImagingPatient) -> StudySummary:
    return StudySummary(
        id=study.id,
        study_uid=study.study_uid,
        patient_id=study.patient_id,
        request_id=study.request_id,
        institution_id=study.institution_id,
        study_date=study.study_date,
        study_time=study.study_time,
        accession_number=study.accession_number,
        description=study.description,
        modalities=study.modalities,
        num_series=study.num_series,
        num_instances=study.num_instances,
        patient_name=patient.name,
        dicom_patient_id=patient.dicom_patient_id,
        received_at=study.received_at,
    )


async def for_request(work: Work, request_id: int) -> list[StudySummary]:
    """The imaging studies linked to a request the caller may read."""
    await readable_request(work, request_id, "imaging.request_studies")
    rows = await work.session.execute(
        select(ImagingStudy, ImagingPatient)
        .join(ImagingPatient, ImagingPatient.id == ImagingStudy.imaging_patient_id)
        .where(ImagingStudy.request_id == request_id)
        .order_by(ImagingStudy.study_date, ImagingStudy.id)
    )
    return [_summary(s, p) for s, p in rows]


ECG_MODALITY = "ECG"


def _may_reconcile(work: Work) -> None:
    principal = work.principal
    if not (
        principal.system or principal.has(Role.ADMIN, Role.IMAGING_SPECIALIST, Role.ECG_SPECIALIST)
    ):
        work.deny("imaging.reconcile")
        raise Forbidden("reconciliation belongs to the specialists of the kind or an administrator")


def _reconcile_scope(work: Work) -> ColumnElement[bool]:
    """The waiting studies the caller sees: a clinic its own, a radiologist the images, an ECG
    specialist the DICOM ECG waveforms, an administrator all."""
    principal = work.principal
    if principal.is_clinic:
        return ImagingStudy.institution_id.in_(principal.clinic_scope)
    if principal.has(Role.IMAGING_SPECIALIST):
        return ImagingStudy.modalities != ECG_MODALITY
    if principal.has(Role.ECG_SPECIALIST):
        return ImagingStudy.modalities == ECG_MODALITY
    if principal.system or principal.has(Role.ADMIN):
        return true()
    return false()


async def reconciliation(work: Work, *, include_resolved: bool = False) -> list[ReconciliationItem]:
    if not work.principal.is_clinic:
        _may_reconcile(work)
    query = (
        select(ImagingReconciliation, ImagingStudy, ImagingPatient)
        .join(ImagingStudy, ImagingStudy.id == ImagingReconciliation.study_id)
        .join(ImagingPatient, ImagingPatient.id == ImagingStudy.imaging_patient_id)
        .where(_reconcile_scope(work))
        .order_by(ImagingReconciliation.opened_at, ImagingReconciliation.id)
    )
    if not include_resolved:
        query = query.where(ImagingReconciliation.resolved_at.is_(None))
    rows = await work.session.execute(query)
    work.audit("imaging.reconciliation.list")
    return [_item(r, s, p) for r, s, p in rows]


def _item(r: ImagingReconciliation, s: ImagingStudy, p: ImagingPatient) -> ReconciliationItem:
    code = Reason(r.reason_code) if r.reason_code in Reason._value2member_map_ else None
    return ReconciliationItem(
        reason_code=code.value if code else "",
        reason_zh=code.zh if code else r.reason,
        reason_en=code.en if code else r.reason,
        accession_number=s.accession_number,
        modalities=s.modalities,
        id=r.id,
        study_pk=s.id,
        study_uid=s.study_uid,
        reason=r.reason,
        opened_at=r.opened_at,
        institution_id=s.institution_id,
        dicom_patient_id=p.dicom_patient_id,
        patient_name=p.name,
        study_date=s.study_date,
        description=s.description,
        resolved_at=r.resolved_at,
        patient_id=s.patient_id,
        request_id=s.request_id,
    )


async def resolve(work: Work, item_id: int, patient_id: int) -> ReconciliationItem:
    """Assign the study to ``patient_id`` and link (or open) its imaging-read request."""
    _may_reconcile(work)
    row = (
        await work.session.execute(
            select(ImagingReconciliation, ImagingStudy, ImagingPatient)
            .join(ImagingStudy, ImagingStudy.id == ImagingReconciliation.study_id)
            .join(ImagingPatient, ImagingPatient.id == ImagingStudy.imaging_patient_id)
            .where(ImagingReconciliation.id == item_id, _reconcile_scope(work))
        )
    ).first()
    if row is None:
        raise NotFound(f"no reconciliation item {item_id}")
    item, study, imaging_patient = row[0], row[1], row[2]
    claimed = await work.session.execute(  # one reconciler wins, even at the same moment
        update(ImagingReconciliation)
        .where(ImagingReconciliation.id == item.id, ImagingReconciliation.resolved_at.is_(None))
        .values(resolved_at=work.now, resolved_by=work.principal.user_id or None)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this study was already assigned")
    await work.session.refresh(item)
    institution = await work.session.get(Institution, study.institution_id)
    if institution is None:
        raise NotFound(f"no institution {study.institution_id}")
    caller = work.principal
    work.principal = await linking.acting_for(work, institution)  # a patient the clinic knows
    try:
        patient = await known_patient(work, patient_id, "imaging.reconcile")
    finally:
        work.principal = caller
    study.patient_id = patient.id
    if imaging_patient.patient_id is None:
        imaging_patient.patient_id = patient.id
    if study.request_id is None:
        request = None
        if study.accession_number:
            request = await work.session.scalar(
                select(DiagnosticRequest).where(
                    DiagnosticRequest.identifier == study.accession_number,
                    DiagnosticRequest.kind == RequestKind.IMAGING_READ,
                    DiagnosticRequest.patient_id == patient.id,
                )
            )
            if request is not None and not await may_send_for(
                work, institution.id, request.requesting_institution_id
            ):
                request = None
        is_ecg = study.modalities == ECG_MODALITY  # the ECG center opens its own request
        if request is None and not is_ecg and institution.level is not InstitutionLevel.COUNTY:
            modality = await work.session.scalar(
                select(ImagingSeries.modality).where(ImagingSeries.study_id == study.id).limit(1)
            )
            question = " ".join(p for p in (modality or "", study.description) if p)
            request = await linking.open_request(
                work, patient.id, institution, study.study_uid, question
            )
        study.request_id = request.id if request is not None else None
    item.patient_id = patient.id
    work.audit(
        "imaging.reconcile",
        patient_id=patient.id,
        obj=("study", study.id),
        item=item.id,
        reason=item.reason_code or None,
        request_id=study.request_id,
    )
    return _item(item, study, imaging_patient)
