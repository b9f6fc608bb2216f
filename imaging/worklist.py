"""The modality worklist: imaging requests scheduled at a township, as procedure steps.

Scheduling an imaging-read request at an institution (the clinic that asked, or its township)
gives it one scheduled procedure step: a Step ID, the accession number (the request's
identifier) and a pre-assigned StudyInstanceUID. The institution's registered modalities find
it on the worklist (C-FIND, DICOM Modality Worklist) and report it performed (MPPS): SCHEDULED
→ IN PROGRESS → COMPLETED or DISCONTINUED; nothing else.

Plain data in and out: the DICOM adapter (:mod:`imaging.dimse`) turns identifiers into
:class:`WorklistKeys` and refusals into statuses.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
import zoneinfo
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError

from consult.center import Work
from consult.errors import Conflict, InvalidInput, NotFound
from consult.identity import may_send_for
from consult.lifecycle import Lifecycle
from consult.models import DiagnosticRequest, Institution, Patient, PatientRecordNumber
from consult.vocab import RequestKind, Role
from imaging import devices
from imaging.index import WorklistStep
from imaging.node_values import (
    AET_RE,
    MODALITY_RE,
    DeviceInfo,
    Refusal,
    ScheduledStep,
    StepReference,
    StepRefused,
    WorklistKeys,
    date_range,
)

logger = logging.getLogger(__name__)

MAX_STEPS = 500
LO_RE = re.compile(r"^[^\x00-\x1f\x7f\\]{0,64}$")
"""A DICOM LO value (Scheduled Procedure Step Description): 64 characters, no control character
or backslash; any script, as the worklist answers in UTF-8 (ISO_IR 192)."""


class StepStatus(StrEnum):
    """Scheduled Procedure Step Status (0040,0020) / Performed Procedure Step Status."""

    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"


STEP_TRANSITIONS = {
    # MPPS N-CREATE, or the request ended (cancelled, rejected) before the exam
    StepStatus.SCHEDULED: {StepStatus.IN_PROGRESS, StepStatus.DISCONTINUED},
    StepStatus.IN_PROGRESS: {StepStatus.COMPLETED, StepStatus.DISCONTINUED},  # MPPS N-SET
    StepStatus.COMPLETED: set(),
    StepStatus.DISCONTINUED: set(),
}
LIFECYCLE = Lifecycle("worklist step", STEP_TRANSITIONS, label=lambda s: s.step_id)


def _text_match(column: Any, value: str) -> ColumnElement[bool] | None:
    if not value or value == "*":
        return None
    if "*" in value or "?" in value:
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.like(escaped.replace("*", "%").replace("?", "_"), escape="\\")
    return column == value


async def schedule(
    work: Work,
    request_identifier: str,
    *,
    modality: str,
    start: dt.datetime,
    at: str = "",
    station_aet: str = "",
    description: str = "",
) -> WorklistStep:
    """Schedule an open imaging-read request at institution ``at`` (default: the station's, else
    the clinic that asked); one step per request, rescheduled while it is SCHEDULED."""
    request = await work.session.scalar(
        select(DiagnosticRequest).where(DiagnosticRequest.identifier == request_identifier)
    )
    if request is None or not _may_schedule(work, request):
        raise NotFound(f"no request {request_identifier}")
    slot = Slot(modality, start, station_aet, description).checked()
    return await book(work, request, slot, at=at)


@dataclass(frozen=True)
class Slot:
    """What a step is booked for: a modality at a station at a start time."""

    modality: str
    start: dt.datetime
    station_aet: str = ""
    description: str = ""

    def checked(self) -> Slot:
        modality = self.modality.strip().upper()
        if not MODALITY_RE.match(modality):
            raise InvalidInput("modality must be a DICOM code such as CT or DX", field="modality")
        station = self.station_aet.strip()
        if station and not AET_RE.match(station):
            raise InvalidInput(
                "an AE title is 1-16 printable ASCII characters", field="station_aet"
            )
        description = self.description[:64].replace("\\", "/")
        if not LO_RE.match(description):
            raise InvalidInput("the description must be printable text", field="description")
        return Slot(modality, self.start, station, description)


async def book(work: Work, request: DiagnosticRequest, slot: Slot, *, at: str = "") -> WorklistStep:
    """Schedule ``request`` (already read in the caller's scope) for ``slot``, or move its
    step while still SCHEDULED; a taken station slot is :class:`SlotTaken`."""
    if not _may_schedule(work, request):
        raise NotFound(f"no request {request.id}")
    if request.kind is not RequestKind.IMAGING_READ:
        raise InvalidInput("only an imaging request is scheduled on the worklist", field="request")
    if not request.status.is_open:
        raise Conflict(f"request {request.identifier} is {request.status}", code="request_closed")
    local = _local(work, slot.start)
    performer = await _where_performed(work, request, slot, at)
    step = await current(work, request.id, lock=True)
    if step is None:
        step = _new_step(work, request, slot, local, performer)
        action = "imaging.worklist.schedule"
    else:
        _move(work, step, slot, local, performer)
        action = "imaging.worklist.reschedule"
    await _hold_slot(work)
    work.audit(
        action,
        obj=("request", request.id),
        patient_id=request.patient_id,
        step=step.step_id,
        station=step.station_aet,
        start=f"{step.start_date}{step.start_time}",
    )
    logger.info("request %s %s at %s", request.identifier, action, step.station_aet)
    return step


class SlotTaken(Conflict):
    """The station already has a live step at that start time."""

    code = "slot_taken"


def _local(work: Work, start: dt.datetime) -> dt.datetime:
    """The start in the center's wall-clock time (DICOM DA/TM carry no zone)."""
    if start.tzinfo is None:
        return start
    return start.astimezone(zoneinfo.ZoneInfo(work.policy.timezone))


async def current(work: Work, request_id: int, *, lock: bool = False) -> WorklistStep | None:
    """The request's step (in any status), or None."""
    query = select(WorklistStep).where(WorklistStep.request_id == request_id)
    return await work.session.scalar(query.with_for_update() if lock else query)


async def _where_performed(
    work: Work, request: DiagnosticRequest, slot: Slot, at: str
) -> Institution:
    """Institution ``at``, else the station's (a registered, active modality), else the clinic
    that asked."""
    if at or not slot.station_aet:
        return await _performer(work, request, at, field="at")
    device = await devices.by_title(work, slot.station_aet)
    if device is None:
        raise InvalidInput(
            f"no registered modality has the AE title {slot.station_aet!r}", field="station_aet"
        )
    return await _performer(work, request, device.institution_code, field="station_aet")


def _new_step(
    work: Work,
    request: DiagnosticRequest,
    slot: Slot,
    local: dt.datetime,
    performer: Institution,
) -> WorklistStep:
    step = WorklistStep(
        request_id=request.id,
        institution_id=performer.id,
        step_id=f"S{request.identifier}"[:16],
        accession=request.identifier,
        study_uid=f"2.25.{uuid.uuid4().int}",
        modality=slot.modality,
        station_aet=slot.station_aet,
        start_date=local.strftime("%Y%m%d"),
        start_time=local.strftime("%H%M%S"),
        description=slot.description or request.clinical_question[:64].replace("\\", "/"),
        status=StepStatus.SCHEDULED,
        created_at=work.now,
        updated_at=work.now,
    )
    work.session.add(step)
    return step


def _move(
    work: Work, step: WorklistStep, slot: Slot, local: dt.datetime, performer: Institution
) -> None:
    if step.status != StepStatus.SCHEDULED:
        raise Conflict(
            f"step {step.step_id} is {step.status}: only a SCHEDULED step is moved",
            code="step_started",
        )
    step.institution_id = performer.id
    step.modality = slot.modality
    step.station_aet = slot.station_aet
    step.start_date = local.strftime("%Y%m%d")
    step.start_time = local.strftime("%H%M%S")
    if slot.description:
        step.description = slot.description
    step.updated_at = work.now


async def _hold_slot(work: Work) -> None:
    try:
        await work.session.flush()
    except IntegrityError as exc:  # uq_worklist_step_slot (or another booking of this request)
        if "request_id" in str(exc.orig):
            raise Conflict(
                "the request was scheduled by someone else", code="step_exists"
            ) from None
        raise SlotTaken("时段已被占用 / station slot taken") from None


async def discontinue(work: Work, request: DiagnosticRequest) -> None:
    """The request ended (cancelled, rejected): its SCHEDULED step leaves the worklist."""
    step = await current(work, request.id, lock=True)
    if step is None or step.status != StepStatus.SCHEDULED:
        return
    LIFECYCLE.set(step, StepStatus.DISCONTINUED, work.now)
    work.audit("imaging.worklist.discontinue", obj=("request", request.id), step=step.step_id)


def _may_schedule(work: Work, request: DiagnosticRequest) -> bool:
    """The requesting clinic (its scope) or the county's imaging specialists."""
    principal = work.principal
    if principal.user_id == 0 or principal.has(Role.ADMIN):
        return True
    if principal.is_clinic:
        return request.requesting_institution_id in principal.clinic_scope
    return RequestKind.IMAGING_READ in principal.kinds


async def _performer(
    work: Work, request: DiagnosticRequest, code: str, *, field: str
) -> Institution:
    """Where the step is performed: the requesting clinic, its township or the county hospital
    (a village clinic books its township's CT)."""
    if not code:
        return request.requesting_institution
    institution = await work.session.scalar(select(Institution).where(Institution.code == code))
    if institution is None or not await may_send_for(
        work, institution.id, request.requesting_institution_id
    ):
        raise InvalidInput(f"the request cannot be performed at {code!r}", field=field)
    return institution


async def find(work: Work, device: DeviceInfo, keys: WorklistKeys) -> list[ScheduledStep]:
    """The scheduled steps of ``device``'s institution matching ``keys`` (its own only)."""
    keys = keys.checked()
    query = (
        select(WorklistStep, Patient)
        .join(DiagnosticRequest, DiagnosticRequest.id == WorklistStep.request_id)
        .join(Patient, Patient.id == DiagnosticRequest.patient_id)
        .where(
            WorklistStep.institution_id == device.institution_id,
            WorklistStep.status == StepStatus.SCHEDULED,
        )
        .order_by(WorklistStep.start_date, WorklistStep.start_time, WorklistStep.id)
        .limit(MAX_STEPS)
    )
    for condition in (
        _text_match(WorklistStep.modality, keys.modality),
        _text_match(WorklistStep.station_aet, keys.station_aet),
        _text_match(WorklistStep.accession, keys.accession),
    ):
        if condition is not None:
            query = query.where(condition)
    low, high = date_range(keys.start_date)
    if low:
        query = query.where(WorklistStep.start_date >= low)
    if high:
        query = query.where(WorklistStep.start_date <= high)
    rows = (await work.session.execute(query)).all()
    found = []
    for step, patient in rows:
        patient_id = await _patient_id(work, patient, device.institution_id)
        if keys.patient_id and keys.patient_id != "*" and patient_id != keys.patient_id:
            continue
        found.append(_item(step, patient, patient_id))
    work.audit_patients("imaging.worklist.find", (p.id for _, p in rows), device=device.ae_title)
    return found


async def _patient_id(work: Work, patient: Patient, institution_id: int) -> str:
    """The patient's ID as the institution knows it: its record number, else the resident ID
    (the keys an arriving study is matched by)."""
    number = await work.session.scalar(
        select(PatientRecordNumber.number).where(
            PatientRecordNumber.patient_id == patient.id,
            PatientRecordNumber.institution_id == institution_id,
        )
    )
    return number or patient.resident_id or ""


def _item(step: WorklistStep, patient: Patient, patient_id: str) -> ScheduledStep:
    return ScheduledStep(
        patient_name=patient.name,
        patient_id=patient_id,
        birth_date=patient.birth_date.strftime("%Y%m%d") if patient.birth_date else "",
        sex=patient.sex.value if patient.sex.value in "MFO" else "",
        accession=step.accession,
        requested_procedure_id=step.accession,
        description=step.description,
        study_uid=step.study_uid,
        step_id=step.step_id,
        modality=step.modality,
        station_aet=step.station_aet,
        start_date=step.start_date,
        start_time=step.start_time,
        status=step.status,
    )


async def begin(
    work: Work, device: DeviceInfo, mpps_uid: str, ref: StepReference, status: str
) -> str:
    """MPPS N-CREATE: the referenced step is in progress (returns its Step ID)."""
    if status != StepStatus.IN_PROGRESS:
        raise StepRefused(Refusal.INVALID, "an MPPS is created IN PROGRESS")
    if not (ref.study_uid or ref.accession or ref.step_id):
        raise StepRefused(Refusal.MISSING, "no scheduled step referenced")
    if await work.session.scalar(select(WorklistStep.id).where(WorklistStep.mpps_uid == mpps_uid)):
        raise StepRefused(Refusal.DUPLICATE, "this MPPS instance exists")
    query = select(WorklistStep).where(WorklistStep.institution_id == device.institution_id)
    for column, value in (
        (WorklistStep.study_uid, ref.study_uid),
        (WorklistStep.accession, ref.accession),
        (WorklistStep.step_id, ref.step_id),
    ):
        if value:
            query = query.where(column == value)
    step = await work.session.scalar(query.limit(1).with_for_update())
    if step is None:
        raise StepRefused(Refusal.NO_SUCH_STEP, "no such scheduled step here")
    if step.status != StepStatus.SCHEDULED:
        raise StepRefused(Refusal.FINAL, f"the step is {step.status}")
    LIFECYCLE.set(step, StepStatus.IN_PROGRESS, work.now)
    step.mpps_uid = mpps_uid
    work.audit("imaging.mpps.begin", obj=("request", step.request_id), device=device.ae_title)
    return step.step_id


async def finish(work: Work, device: DeviceInfo, mpps_uid: str, status: str) -> str:
    """MPPS N-SET: the step is completed or discontinued (or stays in progress)."""
    step = await work.session.scalar(
        select(WorklistStep)
        .where(
            WorklistStep.mpps_uid == mpps_uid,
            WorklistStep.institution_id == device.institution_id,
        )
        .with_for_update()
    )
    if step is None:
        raise StepRefused(Refusal.NO_SUCH_INSTANCE, "no such MPPS instance")
    if step.status != StepStatus.IN_PROGRESS:
        raise StepRefused(Refusal.FINAL, f"the step is already {step.status}")
    if status and status not in (
        StepStatus.IN_PROGRESS,
        StepStatus.COMPLETED,
        StepStatus.DISCONTINUED,
    ):
        raise StepRefused(Refusal.INVALID, "status must be COMPLETED or DISCONTINUED")
    if status and status != StepStatus.IN_PROGRESS:
        LIFECYCLE.set(step, StepStatus(status), work.now)
        work.audit(
            "imaging.mpps.end",
            obj=("request", step.request_id),
            device=device.ae_title,
            status=status,
        )
    return step.step_id


async def step_for_study(work: Work, study_uid: str) -> WorklistStep | None:
    """The step whose pre-assigned StudyInstanceUID is ``study_uid``."""
    if not study_uid:
        return None
    return await work.session.scalar(
        select(WorklistStep).where(WorklistStep.study_uid == study_uid)
    )
