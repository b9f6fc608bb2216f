"""Reading long ECGs: windows of samples in binary, the overview, what is left to view."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import Field

from ecg import reading
from ecg.pipeline import readable_recording
from ecg.window import MAX_WINDOW_S
from web.api import Call, Endpoints
from web.ecg_wiring import TRACINGS
from web.schemas import In, Out

endpoints = Endpoints("ecg")
EID = r"/api/v1/ecgs/{id:\d+}"


class WindowQuery(In):
    start: float = Field(0.0, ge=0, le=7 * 24 * 3600, description="seconds from the start")
    duration: float = Field(10.0, gt=0, le=MAX_WINDOW_S, description="seconds")
    leads: str | None = Field(None, max_length=400, description="comma-separated lead names")


class ReadingOut(Out):
    ecg_id: int
    unseen: list[str]
    """What the caller has still to look at before signing (empty: enough has been seen)."""


@endpoints.get(
    EID + "/window",
    summary=(
        "A window of the tracing: int16 little-endian, lead after lead, in X-Ecg-Scale-Uv "
        "microvolts; X-Ecg-Fs, X-Ecg-Leads, X-Ecg-Start, X-Ecg-Count, X-Ecg-Total describe it"
    ),
    query=WindowQuery,
)
async def window(call: Call) -> web.Response:
    q: WindowQuery = call.query
    async with call.work() as work:
        recording = await readable_recording(work, call.path_int("id"), "ecg.window")
    win = await call.request.app[TRACINGS].window(recording, q.start, q.duration, q.leads)
    fs = win.tracing.fs
    async with call.work() as work:
        await reading.record_view(
            work, recording, reading.WINDOW, win.start / fs, (win.start + win.count) / fs
        )
    return web.Response(
        body=win.body(),
        content_type="application/octet-stream",
        headers={
            "X-Ecg-Fs": repr(fs),
            "X-Ecg-Leads": ",".join(quote(n, safe="") for n in win.leads),
            "X-Ecg-Scale-Uv": str(win.tracing.scale_uv),
            "X-Ecg-Start": str(win.start),
            "X-Ecg-Count": str(win.count),
            "X-Ecg-Total": str(win.tracing.n_samples),
            "X-Ecg-Format": "int16le; lead-major",
            "Cache-Control": "no-store",
        },
    )


@endpoints.get(
    EID + "/overview",
    summary="Overview of a recording: rate trend, ectopy per bin, rhythm episodes, AF burden",
)
async def overview(call: Call) -> web.Response:
    async with call.work() as work:
        recording = await readable_recording(work, call.path_int("id"), "ecg.overview")
    tracings = call.request.app[TRACINGS]
    body: dict[str, Any] = await tracings.overview(recording)
    _, tracing = await tracings.tracing(recording)
    body.update(
        id=recording.id, fs=tracing.fs, leads=list(tracing.leads), n_samples=tracing.n_samples
    )
    async with call.work() as work:
        await reading.record_view(work, recording, reading.OVERVIEW)
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@endpoints.get(
    EID + "/reading",
    summary="What the caller has still to view of this ECG before signing",
    response=ReadingOut,
)
async def seen(call: Call) -> ReadingOut:
    async with call.work() as work:
        recording = await readable_recording(work, call.path_int("id"), "ecg.reading")
        left = await reading.unseen_by(work, recording)
    return ReadingOut(ecg_id=recording.id, unseen=left)
