"""ECG uploads, the machine read, and the tracing for the viewer."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from aiohttp import BodyPartReader, web
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from consult.access import readable_request
from consult.vocab import Priority
from ecg import (
    reading,  # -- long ECG reading --
    reconcile,
)
from ecg.pipeline import (
    HeldForReconciliation,
    Upload,
    profile_of,
    readable_recording,
    recordings_of,
    render_of,
    samples_of,
)
from ecg.readers import CsvProfile
from ecg.store import EcgRecording
from web import keys
from web.api import Call, Endpoints
from web.ecg_wiring import ECG_INGEST
from web.errors import ApiError
from web.present import request_out
from web.schemas import In, Out, RequestOut

endpoints = Endpoints("ecg")
EID = r"/api/v1/ecgs/{id:\d+}"
SAMPLES_MAX_S = 300.0  # -- long ECG reading --


class EcgOut(Out):
    id: int
    request_id: int
    patient_id: int
    uploaded_at: dt.datetime
    source: str
    filename: str
    format: str
    size: int
    fs: float
    leads: list[str]
    duration_s: float
    critical: bool
    analysis: dict[str, Any]
    analysis_ms: float


class UploadOut(BaseModel):
    ecg: EcgOut
    request: RequestOut
    duplicate: bool


class UploadFields(In):
    """Form fields (or query parameters) that come with the file."""

    patient_id: int | None = None
    request_id: int | None = None
    accession: str = Field("", max_length=32, description="the request identifier it is for")
    resident_id: str = Field("", max_length=32)
    record_number: str = Field("", max_length=64)
    patient_name: str = Field("", max_length=200)
    birth_date: dt.date | None = None
    sex: str = Field("", max_length=1)
    priority: Priority = Priority.ROUTINE
    clinical_question: str = Field("", max_length=4000)
    csv_fs: float | None = Field(None, gt=0, le=20000)
    csv_gain: float = Field(1.0, gt=0)
    csv_leads: str | None = Field(
        None, max_length=400, description="comma-separated lead order of a CSV export"
    )
    csv_header_rows: int = Field(0, ge=0, le=50)
    csv_time_column: bool = False

    def profile(self) -> CsvProfile | None:
        if self.csv_fs is None:
            return None
        kwargs: dict[str, Any] = {
            "fs": self.csv_fs,
            "gain": self.csv_gain,
            "header_rows": self.csv_header_rows,
            "time_column": self.csv_time_column,
        }
        if self.csv_leads:
            kwargs["leads"] = tuple(n.strip() for n in self.csv_leads.split(",") if n.strip())
        try:
            return CsvProfile(**kwargs)
        except ValueError as exc:
            raise ApiError(422, "invalid_input", f"csv profile: {exc}", "csv_leads") from None


async def _read_upload(request: web.Request, limit: int) -> tuple[dict[str, str], str, bytes]:
    """The file and fields of a multipart form, or a raw body with query parameters."""
    fields: dict[str, str] = dict(request.query)
    fields.pop("access_token", None)
    if not request.content_type.startswith("multipart/"):
        data = await request.read()
        return fields, request.headers.get("X-Filename", ""), data
    filename, chunks, size, got_file = "", [], 0, False
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file":
            got_file = True
            filename = part.filename or ""
            while chunk := await part.read_chunk(1 << 16):
                size += len(chunk)
                if size > limit:
                    raise ApiError(
                        413, "payload_too_large", f"ECG files are limited to {limit >> 20} MiB"
                    )
                chunks.append(chunk)
        elif part.name:
            fields[part.name] = (await part.text())[:4000]
    if not got_file:
        raise ApiError(422, "invalid_input", "file: an ECG file is required", "file")
    return fields, filename, b"".join(chunks)


@endpoints.post(
    "/api/v1/ecgs",
    summary=(
        "Upload an ECG (multipart: file, patient_id or resident_id/record_number/patient_name+"
        "birth_date+sex, request_id or accession?, priority?, csv_*); 202 with the held item "
        "when it disagrees with the request it names"
    ),
    response=UploadOut,
    status=201,
)
async def upload(call: Call) -> UploadOut | web.Response:
    limit = call.request.app[keys.SETTINGS].max_upload_mb << 20
    _ = call.principal
    try:
        raw_fields, filename, data = await _read_upload(call.request, limit)
    except ValueError as exc:  # a malformed multipart body
        raise ApiError(400, "invalid_multipart", f"malformed multipart body: {exc}") from None
    try:
        fields = UploadFields.model_validate(raw_fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(422, "invalid_input", f"{where}: {first['msg']}", where) from None
    if not data:
        raise ApiError(422, "invalid_input", "file: the ECG file is empty", "file")
    ingest = call.request.app[ECG_INGEST]
    try:
        result = await ingest.ingest(
            call.principal,
            Upload(
                data=data,
                filename=filename,
                patient_id=fields.patient_id,
                request_id=fields.request_id,
                priority=fields.priority,
                clinical_question=fields.clinical_question,
                profile=fields.profile(),
                accession=fields.accession,
                patient_ids=(fields.resident_id, fields.record_number),
                name=fields.patient_name,
                birth_date=fields.birth_date,
                sex=fields.sex,
            ),
            client=call.client,
        )
    except HeldForReconciliation as held:
        return _held_response(held.item)
    async with call.work() as work:
        request = await readable_request(work, result.request.id, "request.read")
        out = request_out(request, work.now)
    return UploadOut(
        ecg=EcgOut.model_validate(result.recording), request=out, duplicate=result.duplicate
    )


@endpoints.get(
    EID, summary="An ECG with the machine's measurements and statements", response=EcgOut
)
async def get(call: Call) -> EcgRecording:
    async with call.work() as work:
        return await readable_recording(work, call.path_int("id"), "ecg.read")


@endpoints.get(
    r"/api/v1/requests/{id:\d+}/ecgs", summary="The ECGs of a request", response=list[EcgOut]
)
async def of_request(call: Call) -> list[EcgRecording]:
    async with call.work() as work:
        return await recordings_of(work, call.path_int("id"))


async def _original(call: Call, action: str) -> tuple[EcgRecording, bytes]:
    async with call.work() as work:
        recording = await readable_recording(work, call.path_int("id"), action)
    data = await asyncio.to_thread(call.request.app[ECG_INGEST].files.get, recording.sha256)
    return recording, data


@endpoints.get(EID + "/samples", summary="The tracing's samples in mV per lead (at most 500 Hz)")
async def samples(call: Call) -> web.Response:
    recording, data = await _original(call, "ecg.samples")
    # -- long ECG reading: whole-record JSON for short records only; longer ones use /window --
    if recording.duration_s > SAMPLES_MAX_S:
        raise ApiError(
            413,
            "record_too_long",
            f"记录过长，请分段读取 / records over {SAMPLES_MAX_S:g} s are read by window "
            f"(GET /api/v1/ecgs/{recording.id}/window)",
        )
    loop = asyncio.get_running_loop()
    body = await loop.run_in_executor(
        call.request.app[keys.EXECUTOR], samples_of, data, recording.filename, profile_of(recording)
    )
    async with call.work() as work:
        await reading.record_view(work, recording, reading.WHOLE, 0.0, recording.duration_s)
    return web.json_response({"id": recording.id, **body})


async def _render(call: Call, kind: str) -> web.Response:
    recording, data = await _original(call, "ecg.render")
    loop = asyncio.get_running_loop()
    title = f"ECG {recording.id}  {recording.uploaded_at:%Y-%m-%d %H:%M} UTC"
    body = await loop.run_in_executor(
        call.request.app[keys.EXECUTOR],
        render_of,
        data,
        recording.filename,
        profile_of(recording),
        kind,
        title,
    )
    content_type = "image/svg+xml" if kind == "svg" else "image/png"
    return web.Response(
        body=body, content_type=content_type, headers={"Cache-Control": "private, max-age=3600"}
    )


@endpoints.get(EID + "/render.svg", summary="The tracing on standard ECG paper (SVG)")
async def render_svg(call: Call) -> web.Response:
    return await _render(call, "svg")


@endpoints.get(EID + "/render.png", summary="The tracing on standard ECG paper (PNG)")
async def render_png(call: Call) -> web.Response:
    return await _render(call, "png")


@endpoints.get(EID + "/original", summary="The file as it was uploaded")
async def original(call: Call) -> web.Response:
    recording, data = await _original(call, "ecg.original")
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="ecg-{recording.id}.{recording.format}"'
        },
    )


# -- match: ECGs held for reconciliation --------------------------------------------------------

HELD = TypeAdapter(reconcile.HeldItem)


def _held_response(item: reconcile.HeldItem) -> web.Response:
    body = {"held": HELD.dump_python(item, mode="json")}
    return web.json_response(body, status=202, dumps=lambda o: json.dumps(o, ensure_ascii=False))


class HeldQuery(In):
    include_resolved: bool = False


class HeldResolveIn(In):
    patient_id: int = Field(ge=1)


@endpoints.get(
    "/api/v1/ecgs/reconciliation",
    summary="ECG uploads held because they disagree with their request (ECG specialists)",
    query=HeldQuery,
    response=list[reconcile.HeldItem],
)
async def held(call: Call) -> list[reconcile.HeldItem]:
    async with call.work() as work:
        return await reconcile.listing(work, include_resolved=call.query.include_resolved)


@endpoints.post(
    r"/api/v1/ecgs/reconciliation/{id:\d+}/resolve",
    summary="File a held ECG on a patient of the sending clinic (ECG specialists, audited)",
    body=HeldResolveIn,
    response=reconcile.HeldItem,
)
async def resolve_held(call: Call) -> reconcile.HeldItem:
    ingest = call.request.app[ECG_INGEST]
    return await ingest.resolve(
        call.principal, call.path_int("id"), call.body.patient_id, client=call.client
    )
