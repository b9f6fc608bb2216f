"""FHIR views of the workflow: ServiceRequest (requests and referrals), Task, Encounter,
Appointment and ImagingStudy; thin views over :mod:`consult.fhir.search_workflow`, with the
strict parameters, paging and OperationOutcome errors of :mod:`web.fhir`."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from aiohttp import web

from consult import fhir
from consult.errors import InvalidInput
from consult.fhir import search
from consult.fhir import search_workflow as flow
from consult.fhir.resources import REQUEST_STATUS
from consult.fhir.workflow import (
    APPOINTMENT_STATUS,
    ENCOUNTER_STATUSES,
    REFERRAL_STATUS,
    TASK_STATUS,
    parse_service_request_id,
)
from web.api import Call, Endpoints
from web.dicomweb import dicomweb_base
from web.fhir import (
    ID,
    LAST_UPDATED,
    as_is,
    code_list,
    dates_of,
    fhir_response,
    identifier_param,
    one_value,
    page_param,
    path_id,
    patient_param,
    read_by_id,
    record_search,
    searchset,
    strict_query,
)

endpoints = Endpoints("fhir")
KEYED = frozenset({"code", "identifier"})
CATEGORIES = {"diagnostic", "referral"}
_MODALITY = re.compile(r"^[A-Z0-9]{1,16}$")


def _tz(call: Call) -> ZoneInfo:
    return ZoneInfo(call.center.policy.timezone)


@endpoints.get(f"/fhir/ServiceRequest/{ID}", summary="FHIR ServiceRequest read (request/referral)")
async def read_request(call: Call) -> web.Response:
    source, row_id = parse_service_request_id(call.request.match_info["id"])
    async with call.work() as work:
        if source == "referral":
            return fhir_response(await flow.read_referral(work, row_id))
        return fhir_response(fhir.service_request(await search.read_request(work, row_id)))


@endpoints.get(
    "/fhir/ServiceRequest",
    summary="FHIR ServiceRequest search: patient, status, code, identifier, category, authored",
)
async def search_requests(call: Call) -> web.Response:
    statuses = set(REQUEST_STATUS.values()) | set(REFERRAL_STATUS.values())
    wanted = record_search(call, "authored", statuses, KEYED | {"category"})
    categories = code_list(call.request.query, "category", CATEGORIES)
    page = page_param(call)
    async with call.work() as work:
        found = await flow.search_service_requests(work, wanted, categories, page)
        return searchset(call, found, page, as_is)


@endpoints.get(f"/fhir/Task/{ID}", summary="FHIR Task read (the center's work on a request)")
async def read_task(call: Call) -> web.Response:
    return await read_by_id(call, flow.read_task)


@endpoints.get("/fhir/Task", summary="FHIR Task search: patient, status, code, identifier")
async def search_tasks(call: Call) -> web.Response:
    wanted = record_search(call, "authored-on", set(TASK_STATUS.values()), KEYED)
    page = page_param(call)
    async with call.work() as work:
        return searchset(call, await flow.search_tasks(work, wanted, page), page, as_is)


@endpoints.get(f"/fhir/Encounter/{ID}", summary="FHIR Encounter read (a video consult)")
async def read_encounter(call: Call) -> web.Response:
    return await read_by_id(call, flow.read_encounter)


@endpoints.get("/fhir/Encounter", summary="FHIR Encounter search: patient, status, date")
async def search_encounters(call: Call) -> web.Response:
    wanted = record_search(call, "date", set(ENCOUNTER_STATUSES), frozenset({"identifier"}))
    page = page_param(call)
    async with call.work() as work:
        return searchset(call, await flow.search_encounters(work, wanted, page), page, as_is)


@endpoints.get(f"/fhir/Appointment/{ID}", summary="FHIR Appointment read (a referral's slot)")
async def read_appointment(call: Call) -> web.Response:
    return await read_by_id(call, flow.read_appointment)


@endpoints.get("/fhir/Appointment", summary="FHIR Appointment search: patient, status, date")
async def search_appointments(call: Call) -> web.Response:
    query = strict_query(call, {"patient", "status", "date"})
    wanted = flow.ReferralSearch(
        patient_id=patient_param(query),
        statuses=code_list(query, "status", set(APPOINTMENT_STATUS.values())),
        dates=dates_of(call, query, "date"),
        updated=dates_of(call, query, LAST_UPDATED),
        booked_only=True,
    )
    page = page_param(call)
    async with call.work() as work:
        return searchset(call, await flow.search_appointments(work, wanted, page), page, as_is)


@endpoints.get(f"/fhir/ImagingStudy/{ID}", summary="FHIR ImagingStudy read (an indexed study)")
async def read_study(call: Call) -> web.Response:
    study_id = path_id(call)
    async with call.work() as work:
        study = await flow.read_study(work, study_id, _tz(call), dicomweb_base(call))
        return fhir_response(study)


def _modalities(call: Call) -> tuple[str, ...]:
    value = one_value(call.request.query, "modality")
    if value is None:
        return ()
    codes = tuple(token.strip().rpartition("|")[2] for token in value.split(","))
    for code in codes:
        if not _MODALITY.match(code):
            raise InvalidInput(f"参数 modality 无效 / invalid modality {code!r}", field="modality")
    return codes


@endpoints.get(
    "/fhir/ImagingStudy",
    summary="FHIR ImagingStudy search: patient, identifier, modality, started",
)
async def search_studies(call: Call) -> web.Response:
    query = strict_query(call, {"patient", "identifier", "modality", "started"})
    wanted = flow.StudySearch(
        patient_id=patient_param(query),
        identifier=identifier_param(query),
        modalities=_modalities(call),
        updated=dates_of(call, query, LAST_UPDATED),
        dates=dates_of(call, query, "started"),
    )
    page = page_param(call)
    async with call.work() as work:
        found = await flow.search_studies(work, wanted, page, _tz(call), dicomweb_base(call))
        return searchset(call, found, page, as_is)
