"""Linking an arriving study to its patient and its imaging-read request.

The patient is matched by resident ID (PatientID or Other Patient IDs), then by the sending
institution's own record number in PatientID; the request by Accession Number = request
identifier. A study from a clinic that arrives without a request opens one for that clinic. A
study that matches no patient waits in the reconciliation list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from consult import requests as requests_
from consult.center import Work
from consult.models import DiagnosticRequest, Institution, Patient
from consult.patients import find_for_institution
from consult.principal import Principal, clinic_scope_of
from consult.residentid import ResidentIdError, parse_resident_id
from consult.vocab import InstitutionLevel, RequestKind, Role
from imaging.header import InstanceHeader
from imaging.sop import ECG_WAVEFORMS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Link:
    patient_id: int | None
    request_id: int | None
    problem: str = ""
    """Why the study goes to reconciliation (empty when linked)."""


def _resident_ids(header: InstanceHeader) -> list[str]:
    found = []
    for value in (header.patient_id, *header.other_patient_ids):
        try:
            found.append(parse_resident_id(value).number)
        except (ResidentIdError, ValueError):
            continue
    return found


async def match_patient(work: Work, header: InstanceHeader, institution_id: int) -> Patient | None:
    for resident_id in _resident_ids(header):
        patient = await find_for_institution(work, institution_id, resident_id=resident_id)
        if patient is not None:
            return patient
    for number in (header.patient_id, *header.other_patient_ids):
        if number:
            patient = await find_for_institution(work, institution_id, record_number=number)
            if patient is not None:
                return patient
    return None


async def link_study(work: Work, header: InstanceHeader, institution_id: int) -> Link:
    """Find (or open) the patient and request of a new study."""
    patient = await match_patient(work, header, institution_id)
    request = None
    if header.accession_number:
        request = await work.session.scalar(
            select(DiagnosticRequest).where(
                DiagnosticRequest.identifier == header.accession_number,
                DiagnosticRequest.kind == RequestKind.IMAGING_READ,
            )
        )
    if request is not None:
        if patient is not None and request.patient_id != patient.id:
            return Link(
                patient.id,
                None,
                f"accession number {header.accession_number} is a request for another patient",
            )
        return Link(request.patient_id, request.id)
    if patient is None:
        return Link(None, None, "no patient matches PatientID / Other Patient IDs")
    if header.sop_class_uid in ECG_WAVEFORMS:
        return Link(patient.id, None)  # the ECG center opens (or finds) the ECG-read request
    institution = await work.session.get(Institution, institution_id)
    if institution is None or institution.level is InstitutionLevel.COUNTY:
        return Link(patient.id, None)
    question = " ".join(p for p in (header.modality, header.study_description) if p)
    opened = await open_request(work, patient.id, institution, header.study_uid, question)
    return Link(patient.id, opened.id)


async def acting_for(work: Work, institution: Institution) -> Principal:
    """The server acting as the sending clinic (its device), without a user."""
    return Principal(
        user_id=0,
        username=f"imaging:{institution.code}"[:64],
        display_name=f"imaging device of {institution.name}",
        role=(
            Role.VILLAGE_DOCTOR
            if institution.level is InstitutionLevel.VILLAGE
            else Role.TOWNSHIP_DOCTOR
        ),
        institution_id=institution.id,
        institution_level=institution.level,
        clinic_scope=await clinic_scope_of(work.session, institution),
    )


async def open_request(
    work: Work, patient_id: int, institution: Institution, study_uid: str, question: str
) -> DiagnosticRequest:
    """Open an imaging-read request for a study that arrived without one, for the clinic
    that sent it (the request is the clinic's, as if its doctor had written it)."""
    original = work.principal
    work.principal = await acting_for(work, institution)
    try:
        request = await requests_.create(
            work,
            requests_.NewRequest(
                patient_id=patient_id,
                kind=RequestKind.IMAGING_READ,
                clinical_question=question or "imaging study received",
                details={"study_uid": study_uid, "opened_by": "imaging"},
            ),
        )
    finally:
        work.principal = original
    logger.info("study %s opened request %s", study_uid, request.identifier)
    return request
