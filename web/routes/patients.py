"""Patients, their record numbers, consent and emergency overrides."""

from __future__ import annotations

from typing import Any

from consult import consent, patients, regional
from consult.history import patient_history
from consult.models import Consent, EmergencyOverride, Patient
from ecg.history import ecg_history
from imaging.history import study_history
from lab.history import lab_trends
from web.api import Call, Endpoints
from web.regional import REGIONAL
from web.schemas import (
    ConsentIn,
    ConsentOut,
    HistoryQuery,
    OverrideIn,
    OverrideOut,
    PatientIn,
    PatientOut,
    PatientPatch,
    PatientQuery,
    RecordNumberIn,
    RegionalOut,
)

endpoints = Endpoints("patients")
PID = r"/api/v1/patients/{id:\d+}"


@endpoints.get(
    "/api/v1/patients",
    summary="Find patients by name, record number or resident ID",
    query=PatientQuery,
    response=list[PatientOut],
)
async def search(call: Call) -> list[Patient]:
    q: PatientQuery = call.query
    async with call.work() as work:
        return await patients.search(work, text=q.q, resident_id=q.resident_id, limit=q.limit)


@endpoints.post(
    "/api/v1/patients",
    summary="Register a patient at the caller's clinic",
    body=PatientIn,
    response=PatientOut,
    status=201,
)
async def register(call: Call) -> Patient:
    async with call.work() as work:
        return await patients.register(work, patients.NewPatient(**call.body.model_dump()))


@endpoints.get(
    PID, summary="A patient's record (audited; county staff need consent)", response=PatientOut
)
async def get(call: Call) -> Patient:
    async with call.work() as work:
        return await patients.get(work, call.path_int("id"))


@endpoints.patch(
    PID, summary="Edit a patient's name or phone", body=PatientPatch, response=PatientOut
)
async def patch(call: Call) -> Patient:
    async with call.work() as work:
        return await patients.update(
            work, call.path_int("id"), **call.body.model_dump(exclude_unset=True)
        )


@endpoints.post(
    PID + "/record-numbers",
    summary="Add the clinic's record number",
    body=RecordNumberIn,
    response=PatientOut,
)
async def add_number(call: Call) -> Patient:
    async with call.work() as work:
        return await patients.add_record_number(work, call.path_int("id"), call.body.number)


@endpoints.get(PID + "/consents", summary="A patient's consents", response=list[ConsentOut])
async def list_consents(call: Call) -> list[Consent]:
    async with call.work() as work:
        return await consent.list_for(work, call.path_int("id"))


@endpoints.post(
    PID + "/consents",
    summary="Record the patient's consent",
    body=ConsentIn,
    response=ConsentOut,
    status=201,
)
async def record_consent(call: Call) -> Consent:
    body: ConsentIn = call.body
    async with call.work() as work:
        return await consent.record(
            work, call.path_int("id"), scope=body.scope, expires_at=body.expires_at, note=body.note
        )


@endpoints.post(
    r"/api/v1/consents/{id:\d+}/withdraw", summary="Withdraw a consent", response=ConsentOut
)
async def withdraw(call: Call) -> Consent:
    async with call.work() as work:
        return await consent.withdraw(work, call.path_int("id"))


@endpoints.post(
    PID + "/emergency-access",
    summary="Emergency override: read without consent, with a reason (always audited)",
    body=OverrideIn,
    response=OverrideOut,
    status=201,
)
async def override(call: Call) -> EmergencyOverride:
    async with call.work() as work:
        return await consent.emergency_override(work, call.path_int("id"), call.body.reason)


# -- the patient's history on the reading pages (issue 16) --
HISTORY_SECTIONS = {"ecgs": ecg_history, "studies": study_history, "labs": lab_trends}


@endpoints.get(
    PID + "/history",
    summary="A patient's history for the reading pages: prior requests and signed reports, "
    "ECGs with serial comparison, studies, lab trends (audited; county staff need consent)",
    query=HistoryQuery,
    response=dict[str, Any],
)
async def history(call: Call) -> dict[str, Any]:
    q: HistoryQuery = call.query
    async with call.work() as work:
        return await patient_history(
            work, call.path_int("id"), HISTORY_SECTIONS, current_request_id=q.request_id
        )


@endpoints.get(
    PID + "/regional",
    summary="The patient's records elsewhere in the region, asked of the regional FHIR platform "
    "(needs the patient's regional_records consent; audited before it is asked; 502/504 when "
    "the platform fails)",
    response=RegionalOut,
)
async def regional_records(call: Call) -> regional.RegionalRecords:
    source = call.request.app.get(REGIONAL)
    async with call.work() as work:
        resident_id = await regional.authorise(work, call.path_int("id"), source)
    if source is None or resident_id is None:
        return regional.RegionalRecords("not_configured")
    return await regional.ask_region(source, resident_id)
