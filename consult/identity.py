"""Right patient, right request: the one rule every door (DICOM C-STORE, STOW-RS, ECG upload,
DICOM ECG waveforms) applies before anything is filed.

An arriving item says who its patient is (:class:`Identity`: resident IDs, record numbers,
name + birth date + sex, or the patient the uploading clinic picked) and may name a request
(Accession Number = request identifier). :func:`match` answers with a :class:`Verdict`: the
patient and request to file it on, or the :class:`Reason` why it waits in the reconciliation
list. The rules:

- a named request must be of the item's kind, and the item must come from the request's clinic
  or that clinic's township (the county hospital, the reading center itself, may send for any);
- the item must agree with the request's patient: by resident ID when both have one (a different
  resident ID is a conflict), else by a record number the patient has at the sender or at the
  requesting clinic, else by name + birth date + sex;
- without a request, the patient is found by resident ID (anywhere, then checked to belong to
  the sender's clinic family) or by the sender's own record number; never onto a patient of a
  clinic outside the sender's township.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from consult.center import Work
from consult.models import DiagnosticRequest, Institution, Patient, PatientRecordNumber
from consult.principal import Principal, clinic_scope_of
from consult.residentid import ResidentIdError, parse_resident_id
from consult.vocab import InstitutionLevel, RequestKind, Role


class Reason(StrEnum):
    """Why an item waits for reconciliation instead of being filed."""

    OTHER_CLINIC = "other_clinic"
    """The named request (or the patient found) belongs to a clinic outside the sender's family."""
    RESIDENT_ID_CONFLICT = "resident_id_conflict"
    """The item's resident ID is not the resident ID of the request's (or matched) patient."""
    OTHER_PATIENT = "other_patient"
    """The item identifies a patient other than the named request's."""
    IDENTITY_UNCONFIRMED = "identity_unconfirmed"
    """Nothing in the item (resident ID, record number, name + birth date + sex) confirms the
    named request's patient."""
    WRONG_KIND = "wrong_kind"
    """The accession number names a request of another kind."""
    UNKNOWN_PATIENT = "unknown_patient"
    """No request is named and no patient of the sender matches."""

    @property
    def zh(self) -> str:
        return REASON_TEXT[self][0]

    @property
    def en(self) -> str:
        return REASON_TEXT[self][1]


REASON_TEXT: dict[Reason, tuple[str, str]] = {
    Reason.OTHER_CLINIC: (
        "申请单（或患者）属于发送机构所在乡镇以外的诊所",
        "the request (or patient) belongs to a clinic outside the sender's township",
    ),
    Reason.RESIDENT_ID_CONFLICT: (
        "身份证号与申请单患者的身份证号不一致",
        "the resident ID differs from the request's patient's resident ID",
    ),
    Reason.OTHER_PATIENT: (
        "资料指向的患者不是申请单上的患者",
        "the data identifies a patient other than the request's",
    ),
    Reason.IDENTITY_UNCONFIRMED: (
        "身份证号、病历号、姓名+出生日期+性别均无法确认申请单上的患者",
        "neither resident ID, record number nor name + birth date + sex confirms the "
        "request's patient",
    ),
    Reason.WRONG_KIND: (
        "检查号对应的是其他类型的申请单",
        "the accession number names a request of another kind",
    ),
    Reason.UNKNOWN_PATIENT: (
        "没有匹配的患者（患者号 / 其他患者号）",
        "no patient of the sender matches the patient IDs",
    ),
}


@dataclass(frozen=True)
class Identity:
    """Who an arriving item says its patient is, and which request it names."""

    patient_ids: tuple[str, ...] = ()
    """PatientID, Other Patient IDs, form fields: each may be a resident ID or a record number."""
    name: str = ""
    """A person name: DICOM PN (``Family^Given=表意`` groups) or plain text."""
    birth_date: dt.date | None = None
    sex: str = ""
    """``M``/``F``/``O`` (anything else is unknown)."""
    accession: str = ""
    """The request identifier the item names (empty: none)."""
    patient_pk: int | None = None
    """The patient chosen by the uploading clinic itself (an API upload), when it chose one."""

    def resident_ids(self) -> set[str]:
        found = set()
        for value in self.patient_ids:
            try:
                found.add(parse_resident_id(value).number)
            except (ResidentIdError, ValueError):
                continue
        return found

    def numbers(self) -> set[str]:
        return {v.strip() for v in self.patient_ids if v.strip()}


@dataclass(frozen=True)
class Verdict:
    """Where an item is filed, or why it is not."""

    patient_id: int | None
    request_id: int | None
    reason: Reason | None = None
    detail: str = ""
    """Plain facts behind the reason (the accession number), for the reconciliation list."""

    @property
    def filed(self) -> bool:
        return self.reason is None

    def text(self) -> str:
        """The reason in English with its detail (the list's one-line summary)."""
        if self.reason is None:
            return ""
        return f"{self.reason.en} ({self.detail})" if self.detail else self.reason.en


def dicom_date(value: str) -> dt.date | None:
    """A DICOM DA value (``YYYYMMDD``) as a date, or None."""
    value = value.strip()
    if len(value) != 8 or not value.isdigit():
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if c not in "^ ·.-,").casefold()


def names_agree(given: str, registered: str) -> bool:
    """A DICOM PN (any of its alphabetic / ideographic / phonetic groups) or a plain name
    against the registered name, ignoring spacing, ``^`` separators and case."""
    target = _fold(registered)
    if not target:
        return False
    groups = given.split("=") if given else []
    return any(_fold(g) == target for g in groups if g.strip())


def demographics_agree(identity: Identity, patient: Patient) -> bool:
    return (
        identity.birth_date is not None
        and identity.birth_date == patient.birth_date
        and identity.sex in ("M", "F", "O")
        and identity.sex == patient.sex.value
        and names_agree(identity.name, patient.name)
    )


async def family_of(work: Work, institution_id: int) -> frozenset[int]:
    """The institutions a sender may send for: itself, the villages under it (a township), and
    its township (a village)."""
    institution = await work.session.get(Institution, institution_id)
    if institution is None:
        return frozenset()
    ids = {institution.id}
    if institution.level is InstitutionLevel.TOWNSHIP:
        ids.update(
            await work.session.scalars(
                select(Institution.id).where(Institution.parent_id == institution.id)
            )
        )
    elif institution.parent_id is not None and institution.level is InstitutionLevel.VILLAGE:
        ids.add(institution.parent_id)
    return frozenset(ids)


async def may_send_for(work: Work, sender_id: int, clinic_id: int) -> bool:
    """The sender is the request's clinic, that clinic's township, or the county hospital."""
    if sender_id == clinic_id:
        return True
    sender = await work.session.get(Institution, sender_id)
    if sender is None:
        return False
    if sender.level is InstitutionLevel.COUNTY:
        return True
    clinic = await work.session.get(Institution, clinic_id)
    return clinic is not None and clinic.parent_id == sender.id


async def _numbers_of(work: Work, patient_id: int, institutions: set[int]) -> set[str]:
    rows = await work.session.scalars(
        select(PatientRecordNumber.number).where(
            PatientRecordNumber.patient_id == patient_id,
            PatientRecordNumber.institution_id.in_(institutions),
        )
    )
    return set(rows)


async def _holder_of_number(work: Work, institution_id: int, numbers: set[str]) -> int | None:
    if not numbers:
        return None
    return await work.session.scalar(
        select(PatientRecordNumber.patient_id)
        .where(
            PatientRecordNumber.institution_id == institution_id,
            PatientRecordNumber.number.in_(numbers),
        )
        .limit(1)
    )


async def agreement(
    work: Work, identity: Identity, patient: Patient, institutions: set[int]
) -> Reason | None:
    """None when ``identity`` is ``patient`` (record numbers looked up at ``institutions``);
    else the reason it is not (or cannot be confirmed to be)."""
    if identity.patient_pk is not None and identity.patient_pk != patient.id:
        return Reason.OTHER_PATIENT
    resident_ids = identity.resident_ids()
    if resident_ids and patient.resident_id:
        return None if patient.resident_id in resident_ids else Reason.RESIDENT_ID_CONFLICT
    if identity.patient_pk is not None:
        return None  # the sending clinic picked this very patient
    numbers = identity.numbers()
    if numbers & await _numbers_of(work, patient.id, institutions):
        return None
    for institution_id in institutions:
        holder = await _holder_of_number(work, institution_id, numbers)
        if holder is not None and holder != patient.id:
            return Reason.OTHER_PATIENT
    if resident_ids:
        holder = await work.session.scalar(
            select(Patient.id).where(Patient.resident_id.in_(resident_ids))
        )
        if holder is not None and holder != patient.id:
            return Reason.OTHER_PATIENT
    if demographics_agree(identity, patient):
        return None
    return Reason.IDENTITY_UNCONFIRMED


async def request_named(work: Work, accession: str) -> DiagnosticRequest | None:
    """The request whose identifier is ``accession`` (any kind, any clinic)."""
    if not accession.strip():
        return None
    return await work.session.scalar(
        select(DiagnosticRequest).where(DiagnosticRequest.identifier == accession.strip())
    )


async def find_patient(work: Work, identity: Identity, sender_id: int) -> Patient | None:
    """The patient an item names without a request: by resident ID, else by the sender's own
    record number (the caller checks the patient's clinic)."""
    if identity.patient_pk is not None:
        return await work.session.get(Patient, identity.patient_pk)
    resident_ids = identity.resident_ids()
    if resident_ids:
        found = await work.session.scalar(
            select(Patient).where(Patient.resident_id.in_(resident_ids)).limit(1)
        )
        if found is not None:
            return found
    numbers = identity.numbers()
    if not numbers:
        return None
    return await work.session.scalar(
        select(Patient)
        .join(PatientRecordNumber, PatientRecordNumber.patient_id == Patient.id)
        .where(
            PatientRecordNumber.institution_id == sender_id,
            PatientRecordNumber.number.in_(numbers),
        )
        .limit(1)
    )


async def match(work: Work, identity: Identity, *, sender_id: int, kind: RequestKind) -> Verdict:
    """Where an item of ``kind`` sent by institution ``sender_id`` is filed (see the module)."""
    request = await request_named(work, identity.accession)
    if request is not None:
        return await _against_request(work, identity, request, sender_id, kind)
    patient = await find_patient(work, identity, sender_id)
    if patient is None:
        return Verdict(None, None, Reason.UNKNOWN_PATIENT)
    if not await may_send_for(work, sender_id, patient.home_institution_id):
        return Verdict(None, None, Reason.OTHER_CLINIC, f"patient {patient.id}")
    reason = await agreement(work, identity, patient, {sender_id, patient.home_institution_id})
    if reason is not None:
        return Verdict(None, None, reason)
    return Verdict(patient.id, None)


async def _against_request(
    work: Work, identity: Identity, request: DiagnosticRequest, sender_id: int, kind: RequestKind
) -> Verdict:
    detail = f"accession {request.identifier}"
    if request.kind is not kind:
        return Verdict(None, None, Reason.WRONG_KIND, detail)
    if not await may_send_for(work, sender_id, request.requesting_institution_id):
        return Verdict(None, None, Reason.OTHER_CLINIC, detail)
    patient = await work.session.get(Patient, request.patient_id)
    assert patient is not None  # a foreign key
    reason = await agreement(
        work, identity, patient, {sender_id, request.requesting_institution_id}
    )
    if reason is not None:
        return Verdict(None, None, reason, detail)
    return Verdict(patient.id, request.id)


async def acting_for(work: Work, institution: Institution) -> Principal:
    """The server acting as a sending clinic (its device, or a reconciler filing for it)."""
    return Principal(
        user_id=0,
        username=f"device:{institution.code}"[:64],
        display_name=f"device of {institution.name}",
        role=(
            Role.VILLAGE_DOCTOR
            if institution.level is InstitutionLevel.VILLAGE
            else Role.TOWNSHIP_DOCTOR
        ),
        institution_id=institution.id,
        institution_level=institution.level,
        clinic_scope=await clinic_scope_of(work.session, institution),
    )
