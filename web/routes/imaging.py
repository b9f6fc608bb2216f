"""The imaging API: devices, a request's studies, the reconciliation list."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from consult.access import readable_request
from consult.center import Work
from consult.errors import NotFound
from imaging import devices, studies, worklist
from imaging.index import WorklistStep
from imaging.node_values import DeviceInfo
from web.api import Call, Endpoints
from web.schemas_imaging import (
    DeviceIn,
    DeviceOut,
    ReconciliationQuery,
    ResolveIn,
    ScheduleIn,
    StationOut,
    StepOut,
)
from web.waveforms import BRIDGE

endpoints = Endpoints("imaging")
SCHEDULE = r"/api/v1/requests/{id:\d+}/schedule"


def _device_out(info: DeviceInfo) -> DeviceOut:
    return DeviceOut(
        id=info.id,
        ae_title=info.ae_title,
        host=info.host,
        port=info.port,
        institution_id=info.institution_id,
        institution_code=info.institution_code,
        operations=sorted(info.operations),
        active=info.active,
    )


@endpoints.get(
    "/api/v1/imaging/devices", summary="Registered DICOM devices", response=list[DeviceOut]
)
async def list_devices(call: Call) -> list[DeviceOut]:
    async with call.work() as work:
        return [_device_out(d) for d in await devices.list_all(work)]


@endpoints.post(
    "/api/v1/imaging/devices",
    summary="Register a DICOM device (administrators)",
    body=DeviceIn,
    response=DeviceOut,
    status=201,
)
async def add_device(call: Call) -> DeviceOut:
    body: DeviceIn = call.body
    async with call.work() as work:
        info = await devices.add(
            work,
            ae_title=body.ae_title,
            host=body.host,
            port=body.port,
            institution_code=body.institution,
            operations=frozenset(body.allow),
        )
    return _device_out(info)


@endpoints.get(
    r"/api/v1/requests/{id:\d+}/studies",
    summary="The imaging studies linked to a request",
    response=list[studies.StudySummary],
)
async def request_studies(call: Call) -> list[studies.StudySummary]:
    async with call.work() as work:
        return await studies.for_request(work, call.path_int("id"))


@endpoints.get(
    "/api/v1/imaging/reconciliation",
    summary="Studies that matched no patient, waiting to be assigned",
    query=ReconciliationQuery,
    response=list[studies.ReconciliationItem],
)
async def reconciliation(call: Call) -> list[studies.ReconciliationItem]:
    async with call.work() as work:
        return await studies.reconciliation(work, include_resolved=call.query.include_resolved)


@endpoints.post(
    r"/api/v1/imaging/reconciliation/{id:\d+}/resolve",
    summary="Assign an unmatched study to a patient",
    body=ResolveIn,
    response=studies.ReconciliationItem,
)
async def resolve(call: Call) -> studies.ReconciliationItem:
    async with call.work() as work:
        item = await studies.resolve(work, call.path_int("id"), call.body.patient_id)
    if item.modalities == studies.ECG_MODALITY:  # its waveforms go to the ECG center now
        await call.request.app[BRIDGE].study_resolved(item.study_pk)
    return item


def _step_out(work: Work, step: WorklistStep) -> StepOut:
    start = dt.datetime.strptime(step.start_date + step.start_time, "%Y%m%d%H%M%S")
    return StepOut(
        request_id=step.request_id,
        step_id=step.step_id,
        accession=step.accession,
        study_uid=step.study_uid,
        modality=step.modality,
        station_aet=step.station_aet,
        start=start.replace(tzinfo=zoneinfo.ZoneInfo(work.policy.timezone)),
        description=step.description,
        status=step.status,
    )


@endpoints.put(
    SCHEDULE,
    summary="Schedule an imaging request at a station (the modality worklist), or move it",
    body=ScheduleIn,
    response=StepOut,
)
async def schedule(call: Call) -> StepOut:
    body: ScheduleIn = call.body
    slot = worklist.Slot(body.modality, body.start, body.station_aet, body.description)
    async with call.work() as work:
        request = await readable_request(work, call.path_int("id"), "imaging.worklist.book")
        step = await worklist.book(work, request, slot.checked())
        return _step_out(work, step)


@endpoints.get(
    "/api/v1/imaging/stations",
    summary="The modalities the caller may book a request on (no addresses)",
    response=list[StationOut],
)
async def list_stations(call: Call) -> list[devices.Station]:
    async with call.work() as work:
        return await devices.stations(work)


@endpoints.get(SCHEDULE, summary="The request's scheduled procedure step", response=StepOut)
async def scheduled(call: Call) -> StepOut:
    async with call.work() as work:
        request = await readable_request(work, call.path_int("id"), "imaging.worklist.read")
        step = await worklist.current(work, request.id)
        if step is None:
            raise NotFound(f"request {request.identifier} is not scheduled")
        return _step_out(work, step)
