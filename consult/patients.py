"""Patients: registration at a clinic, search, demographics, record numbers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select

from consult.access import (
    known_patient,
    needs_consent,
    patient_clause,
    readable_now_clause,
    readable_patient,
)
from consult.center import Work
from consult.errors import Conflict, Forbidden, InvalidInput
from consult.models import Patient, PatientRecordNumber
from consult.residentid import ResidentIdError, parse_resident_id
from consult.vocab import Sex

MAX_SEARCH = 200


@dataclass(frozen=True)
class NewPatient:
    name: str
    sex: Sex
    birth_date: dt.date | None = None
    phone: str = ""
    resident_id: str | None = None
    record_number: str | None = None


def check_demographics(data: NewPatient, today: dt.date) -> str | None:
    """Validate the demographics; return the normalised resident ID (if any)."""
    if not data.name.strip():
        raise InvalidInput("name must not be empty", field="name")
    if data.birth_date is not None and data.birth_date > today:
        raise InvalidInput("birth date is in the future", field="birth_date")
    if not data.resident_id:
        return None
    try:
        rid = parse_resident_id(data.resident_id, today=today)
    except ResidentIdError as exc:
        raise InvalidInput(str(exc), field="resident_id") from None
    if data.birth_date is not None and data.birth_date != rid.birth_date:
        raise InvalidInput(
            f"birth date {data.birth_date} does not match the resident ID ({rid.birth_date})",
            field="birth_date",
        )
    if data.sex in (Sex.MALE, Sex.FEMALE) and data.sex.value != rid.sex:
        raise InvalidInput(f"sex {data.sex} does not match the resident ID", field="sex")
    return rid.number


async def register(work: Work, data: NewPatient) -> Patient:
    """Register a patient at the caller's clinic; a resident ID may exist only once."""
    principal = work.principal
    if not principal.is_clinic:
        work.deny("patient.create")
        raise Forbidden("only clinic doctors register patients")
    resident_id = check_demographics(data, work.now.date())
    if resident_id and await work.session.scalar(
        select(Patient.id).where(Patient.resident_id == resident_id)
    ):
        raise Conflict("a patient with this resident ID is already registered", field="resident_id")
    birth = data.birth_date or (parse_resident_id(resident_id).birth_date if resident_id else None)
    patient = Patient(
        name=data.name.strip(),
        sex=data.sex,
        birth_date=birth,
        phone=data.phone.strip(),
        resident_id=resident_id,
        home_institution_id=principal.institution_id,
        created_by=principal.user_id or None,
        record_numbers=[],
    )
    work.session.add(patient)
    await work.session.flush()
    if data.record_number:
        await _add_record_number(work, patient, principal.institution_id, data.record_number)
    work.audit("patient.create", patient_id=patient.id, obj=("patient", patient.id))
    return patient


async def search(
    work: Work, *, text: str = "", resident_id: str = "", limit: int = 50
) -> list[Patient]:
    """Patients in the caller's scope matching a name, record number or resident ID."""
    query = select(Patient).where(patient_clause(work.principal))
    if resident_id:
        query = query.where(Patient.resident_id == resident_id.strip().upper())
    if text:
        needle = f"%{text.strip()}%"
        query = query.where(
            or_(
                Patient.name.like(needle),
                Patient.id.in_(
                    select(PatientRecordNumber.patient_id).where(
                        PatientRecordNumber.number == text.strip()
                    )
                ),
            )
        )
    if needs_consent(work.principal):
        # the same rule as reading one record: county staff find only consented patients
        query = query.where(readable_now_clause(work.principal, work.now))
    rows = list(
        await work.session.scalars(query.order_by(Patient.id).limit(min(limit, MAX_SEARCH)))
    )
    work.audit_patients("patient.search", (p.id for p in rows))
    return rows


async def get(work: Work, patient_id: int) -> Patient:
    return await readable_patient(work, patient_id, "patient.read")


async def update(
    work: Work, patient_id: int, *, phone: str | None = None, name: str | None = None
) -> Patient:
    patient = await known_patient(work, patient_id, "patient.update")
    if not work.principal.is_clinic:
        work.deny("patient.update", patient_id=patient_id)
        raise Forbidden("only the patient's clinic edits demographics")
    if name is not None:
        if not name.strip():
            raise InvalidInput("name must not be empty", field="name")
        patient.name = name.strip()
    if phone is not None:
        patient.phone = phone.strip()
    work.audit("patient.update", patient_id=patient.id, obj=("patient", patient.id))
    return patient


async def add_record_number(work: Work, patient_id: int, number: str) -> Patient:
    patient = await known_patient(work, patient_id, "patient.update")
    if not work.principal.is_clinic:
        raise Forbidden("only a clinic adds its record numbers")
    await _add_record_number(work, patient, work.principal.institution_id, number)
    work.audit("patient.record_number", patient_id=patient.id, number=number)
    return patient


async def _add_record_number(
    work: Work, patient: Patient, institution_id: int, number: str
) -> None:
    number = number.strip()
    if not number or len(number) > 64:
        raise InvalidInput("record number must be 1-64 characters", field="record_number")
    taken = await work.session.scalar(
        select(PatientRecordNumber.patient_id).where(
            PatientRecordNumber.institution_id == institution_id,
            PatientRecordNumber.number == number,
        )
    )
    if taken is not None and taken != patient.id:
        raise Conflict(f"record number {number} belongs to another patient", field="record_number")
    if taken is None:
        patient.record_numbers.append(
            PatientRecordNumber(patient_id=patient.id, institution_id=institution_id, number=number)
        )
        await work.session.flush()


async def find_for_institution(
    work: Work, institution_id: int, *, resident_id: str = "", record_number: str = ""
) -> Patient | None:
    """Match an incoming record (DICOM, HL7) to a patient: resident ID, then local number."""
    if resident_id:
        found = await work.session.scalar(
            select(Patient).where(Patient.resident_id == resident_id.strip().upper())
        )
        if found is not None:
            return found
    if record_number:
        return await work.session.scalar(
            select(Patient)
            .join(PatientRecordNumber, PatientRecordNumber.patient_id == Patient.id)
            .where(
                PatientRecordNumber.institution_id == institution_id,
                PatientRecordNumber.number == record_number.strip(),
            )
        )
    return None
