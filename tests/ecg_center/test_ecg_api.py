"""The ECG center through the API: upload, machine read, triage alert, viewer data, the read."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ecg.interpret import CriticalThresholds
from ecg.pipeline import read_and_analyse
from tests.conftest import Api, ApiUser, Database, make_settings
from tests.core.helpers import Events, new_patient
from tests.ecg.synth import SynthSpec, synth
from tests.ecg_center.files import csv_text, normal_zip, stemi_zip, wfdb_zip
from web.app import create_app

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


async def upload(
    user: ApiUser, patient_id: int, data: bytes, filename: str, **fields: str
) -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("patient_id", str(patient_id))
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    async with user.client.post("/api/v1/ecgs", data=form, headers=user.headers) as r:
        return r.status, await r.json()


async def test_stemi_upload_alerts_readers_at_once(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    readers = await Events.open(reader)
    patient = await new_patient(village, "心梗患者")
    status, body = await upload(
        village, patient["id"], stemi_zip(), "stemi.zip", clinical_question="胸痛1小时"
    )
    assert status == 201, body
    assert body["duplicate"] is False and body["ecg"]["critical"] is True
    codes = {s["code"] for s in body["ecg"]["analysis"]["statements"]}
    assert any("STEMI" in c.upper() for c in codes), codes
    assert body["request"]["priority"] == "stat" and body["request"]["critical"] is True
    # published at the commit that stores the ECG, i.e. before the upload's response is sent
    alert = await readers.next("critical", timeout=5.0)
    assert alert["request_id"] == body["request"]["id"] and alert["critical"] is True
    top = (await reader.get("/api/v1/worklist")).ok()[0]
    assert top["id"] == body["request"]["id"] and top["critical"]
    await readers.close()


async def test_normal_upload_raises_no_alert(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    readers = await Events.open(reader)
    patient = await new_patient(village, "常规体检")
    status, body = await upload(village, patient["id"], normal_zip(), "normal.zip")
    assert status == 201, body
    assert body["ecg"]["critical"] is False and body["request"]["priority"] == "routine"
    codes = {s["code"] for s in body["ecg"]["analysis"]["statements"]}
    assert "SR" in codes, codes  # sinus rhythm
    assert (await readers.next("request.received"))["request_id"] == body["request"]["id"]
    await readers.nothing("critical", wait=0.5)
    await readers.close()


async def test_upload_is_idempotent_and_keeps_the_original(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    data = normal_zip(seed=5)
    s1, first = await upload(village, patient["id"], data, "a.zip")
    s2, second = await upload(village, patient["id"], data, "a-again.zip")
    assert (s1, s2) == (201, 201)
    assert second["duplicate"] is True and second["ecg"]["id"] == first["ecg"]["id"]
    requests = (await village.get(f"/api/v1/requests?patient_id={patient['id']}")).ok()
    assert len(requests) == 1
    original = await village.get(f"/api/v1/ecgs/{first['ecg']['id']}/original")
    assert original.status == 200 and original.body == data


async def test_bad_files_get_4xx_naming_the_problem(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    good = normal_zip(seed=9)
    cases = [
        (b"", "empty.zip", "empty"),
        (b"\x00\x01garbage" * 50, "mystery.bin", ""),
        (good[: len(good) // 2], "truncated.zip", ""),
        (b"<?xml version='1.0'?><AnnotatedECG xmlns='urn:hl7-org:v3'></AnnotatedECG>", "x.xml", ""),
        (b"I,II\n1,2\n3,4\n", "export.csv", "profile"),
    ]
    for data, name, word in cases:
        status, body = await upload(village, patient["id"], data, name)
        assert status == 422, (name, status, body)
        assert body["error"]["field"] == "file" and word in body["error"]["message"].lower(), (
            name,
            body,
        )
    status, body = await upload(village, patient["id"], good, "x.zip", priority="urgentest")
    assert status == 422 and body["error"]["field"] == "priority"
    status, body = await upload(village, 999999, good, "x.zip")
    assert status == 404
    assert (await village.get(f"/api/v1/requests?patient_id={patient['id']}")).ok() == []


async def test_csv_export_with_a_device_profile(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    record = synth(SynthSpec(rate_bpm=65, seed=21))
    status, body = await upload(
        village,
        patient["id"],
        csv_text(record),
        "export.csv",
        csv_fs="500",
        csv_gain="1000",
        csv_leads="I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6",
        csv_header_rows="1",
    )
    assert status == 201, body
    assert (
        body["ecg"]["format"] == "csv"
        and body["ecg"]["fs"] == 500.0
        and len(body["ecg"]["leads"]) == 12
    )
    hr = body["ecg"]["analysis"]["heart_rate_bpm"]
    assert abs(hr - 65) < 3, hr
    samples = (await village.get(f"/api/v1/ecgs/{body['ecg']['id']}/samples")).ok()
    assert samples["leads"][1] == "II" and len(samples["samples"][1]) == 5000


async def test_reader_views_edits_and_signs(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    other = await api.login("dr-township")
    patient = await new_patient(village)
    _, body = await upload(village, patient["id"], stemi_zip(seed=3), "stemi.zip")
    ecg_id, request_id = body["ecg"]["id"], body["request"]["id"]
    listed = (await reader.get(f"/api/v1/requests/{request_id}/ecgs")).ok()
    assert [e["id"] for e in listed] == [ecg_id]
    svg = await reader.get(f"/api/v1/ecgs/{ecg_id}/render.svg")
    assert svg.status == 200 and b"<svg" in svg.body[:400]
    png = await reader.get(f"/api/v1/ecgs/{ecg_id}/render.png")
    assert png.status == 200 and png.body[:8] == b"\x89PNG\r\n\x1a\n"
    assert (await other.get(f"/api/v1/ecgs/{ecg_id}")).status == 404
    assert (await other.get(f"/api/v1/ecgs/{ecg_id}/samples")).status == 404
    machine = body["ecg"]["analysis"]
    edited = {
        "measurements": machine["intervals"],
        "statements": [*machine["statements"], {"code": "READER", "text_zh": "建议急诊PCI"}],
    }
    draft = (
        await reader.post(
            f"/api/v1/requests/{request_id}/reports",
            {"findings": "窦性心律, V1-V5 ST段抬高", "impression": "急性前壁STEMI", "data": edited},
        )
    ).ok()
    unseen = await reader.post(f"/api/v1/reports/{draft['id']}/sign")
    assert unseen.status == 409 and unseen.body["error"]["code"] == "ecg_not_viewed"
    assert len((await reader.get(f"/api/v1/ecgs/{ecg_id}/samples")).ok()["samples"]) == 12
    signed = (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()
    assert signed["data"]["statements"][-1]["code"] == "READER"
    referral = (
        await reader.post(
            "/api/v1/referrals",
            {
                "report_id": signed["id"],
                "department": "cardiology",
                "reason": "STEMI 绿色通道",
                "urgency": "stat",
            },
        )
    ).ok()
    assert referral["status"] == "opened"
    inbox = (await village.get("/api/v1/inbox")).ok()
    assert inbox[0]["report"]["id"] == signed["id"]


async def test_concurrent_uploads_do_not_block_the_server(
    tmp_path: Path, seeded_database: Database
) -> None:
    """With the real process pool: four long uploads at once, and the event loop (the server's
    and this test's, one loop) never stalls for as long as one of their analyses takes here;
    cheap requests meanwhile are answered. An analysis run on the loop fails this."""
    server = TestServer(create_app(make_settings(tmp_path, seeded_database, worker_kind="process")))
    client = TestClient(server)
    await client.start_server()
    gc.collect()
    gc.freeze()  # as ``telecenter serve`` does after start-up: a collection does not walk it all
    try:
        await _concurrent_uploads(Api(client))
    finally:
        gc.unfreeze()
        await client.close()


LONG_S = 300.0  # a five-minute 12-lead recording: its analysis takes about 0.5 s of CPU


class LoopLag:
    """The worst lateness of a 10 ms timer on the running loop while :meth:`watch` runs."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def watch(self, done: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - before - 0.01)


async def _cheap_requests(api: Api, done: asyncio.Event) -> list[int]:
    statuses = []
    while not done.is_set():
        statuses.append((await api.anonymous("GET", "/healthz")).status)
    return statuses


def one_analysis_here(data: bytes) -> float:
    """How long one analysis takes on this machine now: what an analysis on the loop would
    stall it for."""
    started = time.perf_counter()
    read_and_analyse(data, "long.zip", None, 60, "M", CriticalThresholds(), 48 * 3600.0)
    return time.perf_counter() - started


async def _concurrent_uploads(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    files = [wfdb_zip(synth(SynthSpec(seconds=LONG_S, seed=100 + i)), "long") for i in range(4)]
    stall = one_analysis_here(files[0])
    done, lag = asyncio.Event(), LoopLag()
    watcher = asyncio.create_task(lag.watch(done))
    cheap = asyncio.create_task(_cheap_requests(api, done))
    try:
        results = await asyncio.gather(
            *(upload(village, patient["id"], data, f"{i}.zip") for i, data in enumerate(files))
        )
    finally:
        done.set()
    await watcher
    assert all(status == 201 for status, _ in results), results
    answered = await cheap
    assert answered and set(answered) == {200}
    assert lag.worst < stall / 2, (
        f"the loop stalled {lag.worst:.3f} s (one analysis: {stall:.3f} s)"
    )
