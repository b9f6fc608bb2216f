"""Find and retrieve over the index, for every door (C-FIND/C-MOVE/C-GET, QIDO/WADO).

Who sees what:
- a device: its own institution's studies (a county device: all of them);
- a clinic user: the studies sent by the clinics in their scope;
- an imaging specialist: studies linked to imaging-read requests, of patients under consent (or
  the specialist's emergency override); every read is audited with the patients it showed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true

from consult import coview
from consult.access import granted_patients, needs_consent
from consult.center import Work
from consult.errors import ConsentRequired, NotFound
from consult.models import DiagnosticRequest
from consult.principal import Principal
from imaging.index import ImagingInstance, ImagingPatient, ImagingSeries, ImagingStudy
from imaging.matching import select_for, values_of
from imaging.node_values import DeviceInfo, InstanceRef, Level

MAX_RESULTS = 5000


@dataclass(frozen=True)
class Scope:
    """SQL conditions on studies and on imaging patients; ``consent`` asks for a post-filter."""

    study: ColumnElement[bool]
    patient: ColumnElement[bool]
    consent: bool = False


def device_scope(device: DeviceInfo) -> Scope:
    if device.county:
        return Scope(true(), true())
    return Scope(
        ImagingStudy.institution_id == device.institution_id,
        ImagingPatient.institution_id == device.institution_id,
    )


def principal_scope(principal: Principal) -> Scope:
    if principal.user_id == 0:
        return Scope(true(), true())
    if principal.is_clinic:
        return Scope(
            ImagingStudy.institution_id.in_(principal.clinic_scope),
            ImagingPatient.institution_id.in_(principal.clinic_scope),
        )
    if principal.kinds:
        linked = ImagingStudy.request_id.in_(
            select(DiagnosticRequest.id).where(DiagnosticRequest.kind.in_(principal.kinds))
        )
        return Scope(linked, false(), consent=needs_consent(principal))
    return Scope(false(), false())


async def reader_scope(work: Work) -> Scope:
    """What a signed-in user reads over DICOMweb: :func:`principal_scope`, and the studies of
    series shared in an open consult room the user is a member of (:mod:`consult.coview`)."""
    scope = principal_scope(work.principal)
    if work.principal.user_id == 0 or work.principal.is_clinic:
        return scope
    shared = await coview.shared_studies(work)
    if not shared:
        return scope
    return Scope(or_(scope.study, ImagingStudy.study_uid.in_(shared)), scope.patient, scope.consent)


async def shareable_series(work: Work, study_uid: str, series_uid: str) -> int:
    """The patient of a series the caller may read themselves (to share it in a room)."""
    refs = await instances(
        work,
        principal_scope(work.principal),
        study_uids=[study_uid],
        series_uids=[series_uid],
        action="imaging.share",
    )
    patient_id = refs[0].patient_id if refs else None
    if patient_id is None:
        raise NotFound("no such series")
    return patient_id


@dataclass(frozen=True)
class Match:
    values: dict[str, Any]
    patient_id: int | None


async def find(
    work: Work,
    level: Level,
    keys: Mapping[str, str],
    scope: Scope,
    *,
    limit: int = MAX_RESULTS,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """One result per matching entity at ``level`` (keyword -> value)."""
    query, names = select_for(
        level,
        keys,
        study_scope=scope.study,
        patient_scope=scope.patient,
        limit=limit,
        offset=offset,
    )
    if level is not Level.PATIENT:
        query = query.add_columns(ImagingStudy.patient_id.label("_patient"))
    rows = (await work.session.execute(query)).all()
    matches = [
        Match(values_of(row[: len(names)], names), row[-1] if level is not Level.PATIENT else None)
        for row in rows
    ]
    if scope.consent:
        allowed = await granted_patients(work, {m.patient_id for m in matches if m.patient_id})
        matches = [m for m in matches if m.patient_id in allowed]
    work.audit_patients(
        "imaging.find",
        (m.patient_id for m in matches if m.patient_id),
        level=str(level),
        count=len(matches),
    )
    return [m.values for m in matches]


async def instances(
    work: Work,
    scope: Scope,
    *,
    study_uids: list[str] | None = None,
    series_uids: list[str] | None = None,
    sop_uids: list[str] | None = None,
    patient_ids: list[str] | None = None,
    action: str = "imaging.retrieve",
) -> list[InstanceRef]:
    """The instances in scope under the given UIDs (the C-MOVE/C-GET/WADO selection)."""
    query = (
        select(
            ImagingStudy.study_uid,
            ImagingSeries.series_uid,
            ImagingInstance.sop_uid,
            ImagingInstance.sop_class_uid,
            ImagingInstance.transfer_syntax,
            ImagingInstance.path,
            ImagingInstance.frames,
            ImagingStudy.patient_id,
        )
        .select_from(ImagingInstance)
        .join(ImagingSeries, ImagingSeries.id == ImagingInstance.series_id)
        .join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
        .join(ImagingPatient, ImagingPatient.id == ImagingStudy.imaging_patient_id)
        .where(scope.study)
    )
    if not (study_uids or series_uids or sop_uids or patient_ids):
        return []
    if patient_ids:
        query = query.where(ImagingPatient.dicom_patient_id.in_(patient_ids))
    if study_uids:
        query = query.where(ImagingStudy.study_uid.in_(study_uids))
    if series_uids:
        query = query.where(ImagingSeries.series_uid.in_(series_uids))
    if sop_uids:
        query = query.where(ImagingInstance.sop_uid.in_(sop_uids))
    query = query.order_by(ImagingSeries.series_number, ImagingInstance.instance_number)
    refs = [InstanceRef(*row) for row in await work.session.execute(query)]
    patients = {r.patient_id for r in refs if r.patient_id}
    if scope.consent:
        allowed = await granted_patients(work, patients)
        if patients - allowed and study_uids and len(study_uids) == 1:
            work.deny(action, obj=("study", study_uids[0]), reason="no consent")
            raise ConsentRequired("the patient of this study has no active consent")
        refs = [r for r in refs if r.patient_id in allowed]
    for patient_id in sorted(patients):
        work.audit(
            action, patient_id=patient_id, count=sum(r.patient_id == patient_id for r in refs)
        )
    if not patients and refs:
        work.audit(action, count=len(refs))
    return refs


async def one_instance(work: Work, scope: Scope, study: str, series: str, sop: str) -> InstanceRef:
    found = await instances(
        work, scope, study_uids=[study], series_uids=[series], sop_uids=[sop], action="imaging.read"
    )
    if not found:
        raise NotFound(f"no instance {sop}")
    return found[0]
