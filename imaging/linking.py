"""Linking an arriving study to its patient and its imaging-read request.

The header's identity (PatientID / Other Patient IDs, name, birth date, sex, Accession Number)
goes through :func:`consult.identity.match`, the rule every door shares. A study from a clinic
that arrives without a request opens one for that clinic. A study that matches no patient, or
disagrees with the request it names, waits in the reconciliation list with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from consult import requests as requests_
from consult.center import Work
from consult.identity import Identity, Reason, acting_for, dicom_date, match
from consult.models import DiagnosticRequest, Institution
from consult.vocab import InstitutionLevel, RequestKind
from imaging import worklist
from imaging.header import InstanceHeader
from imaging.sop import ECG_WAVEFORMS

logger = logging.getLogger(__name__)

__all__ = ["Link", "acting_for", "identity_of", "link_study", "open_request"]


@dataclass(frozen=True)
class Link:
    patient_id: int | None
    request_id: int | None
    problem: str = ""
    """Why the study goes to reconciliation (empty when linked)."""
    reason: Reason | None = None


def identity_of(header: InstanceHeader) -> Identity:
    """What a DICOM header says of its patient and request."""
    return Identity(
        patient_ids=tuple(v for v in (header.patient_id, *header.other_patient_ids) if v),
        name=header.patient_name,
        birth_date=dicom_date(header.birth_date),
        sex=header.sex.strip().upper(),
        accession=header.accession_number,
    )


async def link_study(work: Work, header: InstanceHeader, institution_id: int) -> Link:
    """Find (or open) the patient and request of a new study, by the one matching rule of
    :mod:`consult.identity`; a disagreement leaves the study unlinked, with its reason."""
    is_ecg = header.sop_class_uid in ECG_WAVEFORMS
    kind = RequestKind.ECG_READ if is_ecg else RequestKind.IMAGING_READ
    identity = identity_of(header)
    if not identity.accession:  # the modality took the study UID off the worklist
        step = await worklist.step_for_study(work, header.study_uid)
        if step is not None:
            identity = replace(identity, accession=step.accession)
    verdict = await match(work, identity, sender_id=institution_id, kind=kind)
    if not verdict.filed:
        return Link(None, None, verdict.text(), verdict.reason)
    assert verdict.patient_id is not None
    if verdict.request_id is not None or is_ecg:
        return Link(verdict.patient_id, verdict.request_id)  # the ECG center opens its request
    institution = await work.session.get(Institution, institution_id)
    if institution is None or institution.level is InstitutionLevel.COUNTY:
        return Link(verdict.patient_id, None)
    question = " ".join(p for p in (header.modality, header.study_description) if p)
    opened = await open_request(work, verdict.patient_id, institution, header.study_uid, question)
    return Link(verdict.patient_id, opened.id)


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
