"""The imaging API: devices, a request's studies, the reconciliation list."""

from __future__ import annotations

from imaging import devices, studies
from imaging.node_values import DeviceInfo
from web.api import Call, Endpoints
from web.schemas_imaging import (
    DeviceIn,
    DeviceOut,
    ReconciliationQuery,
    ResolveIn,
)
from web.waveforms import BRIDGE

endpoints = Endpoints("imaging")


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
