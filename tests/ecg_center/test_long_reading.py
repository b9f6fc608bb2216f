"""Reading ECGs window by window: the binary windows, the overview, and no signing unseen."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
import wfdb
from sqlalchemy import select

from ecg.store import EcgRecording
from tests.conftest import Api, ApiUser
from tests.core.helpers import new_patient
from tests.ecg.synth import SynthSpec, synth
from tests.ecg_center.files import wfdb_zip
from tests.ecg_center.test_ecg_api import upload

MITDB_100 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ecg" / "mitdb" / "100"


def mitdb_100_zip() -> bytes:
    """MIT-BIH 100 (30 min 5 s, 2 leads, 360 Hz, format 212) as a zipped WFDB record."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for ext in ("hea", "dat"):
            zf.write(MITDB_100.with_suffix(f".{ext}"), f"100.{ext}")
    return buf.getvalue()


def synth_30min_zip() -> bytes:
    """30 minutes of a synthetic 2-lead record, as a WFDB record (when MIT-BIH is absent)."""
    record = synth(SynthSpec(rate_bpm=75, seconds=1800.0, fs=250.0, seed=3))
    from ecg.record import EcgRecord

    two = EcgRecord(record.samples[[1, 10]], record.fs, ("II", "V5"))
    return wfdb_zip(two, "long")


def long_zip() -> bytes:
    return mitdb_100_zip() if MITDB_100.with_suffix(".dat").exists() else synth_30min_zip()


async def window(user: ApiUser, ecg_id: int, **query: Any) -> tuple[int, dict[str, str], bytes]:
    params = {k: str(v) for k, v in query.items()}
    async with user.client.get(
        f"/api/v1/ecgs/{ecg_id}/window", params=params, headers=user.headers
    ) as r:
        return r.status, dict(r.headers), await r.read()


def decoded(headers: dict[str, str], body: bytes) -> tuple[list[str], np.ndarray]:
    """The window's leads and its samples in mV, from the headers and the int16 body."""
    leads = [unquote(n) for n in headers["X-Ecg-Leads"].split(",")]
    count = int(headers["X-Ecg-Count"])
    values = np.frombuffer(body, dtype="<i2").reshape(len(leads), count)
    return leads, values * int(headers["X-Ecg-Scale-Uv"]) / 1000.0


async def draft(reader: ApiUser, request_id: int) -> int:
    body = {"findings": "窦性心律", "impression": "正常心电图"}
    return (await reader.post(f"/api/v1/requests/{request_id}/reports", body)).ok()["id"]


async def test_window_of_a_12_lead_record_scoped_and_signed_after_viewing(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village)
    record = synth(SynthSpec(rate_bpm=70, seed=31))
    status, body = await upload(village, patient["id"], wfdb_zip(record, "ten"), "ten.zip")
    assert status == 201, body
    ecg_id, request_id = body["ecg"]["id"], body["request"]["id"]

    # a window of three leads: shape and values are the recording's samples (1 uV steps)
    status, headers, raw = await window(reader, ecg_id, start=2, duration=3, leads="V2,II,aVR")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert float(headers["X-Ecg-Fs"]) == record.fs == 500.0
    assert int(headers["X-Ecg-Start"]) == 1000 and int(headers["X-Ecg-Total"]) == 5000
    leads, mv = decoded(headers, raw)
    assert leads == ["V2", "II", "aVR"] and mv.shape == (3, 1500)
    rows = [record.leads.index(n) for n in leads]
    assert np.abs(mv - np.asarray(record.samples)[rows, 1000:2500]).max() <= 0.0006
    # past the end: the window is cut at the end of the record
    status, headers, raw = await window(reader, ecg_id, start=9, duration=5, leads="I")
    assert status == 200 and int(headers["X-Ecg-Count"]) == 500 and len(raw) == 1000

    bad = [
        {"start": -1},
        {"start": "abc"},
        {"start": 10.5},
        {"duration": 0},
        {"duration": 121},
        {"duration": "nan"},
        {"leads": "II,XYZ"},
        {"leads": "II,II"},
    ]
    for query in bad:
        status, _, raw = await window(reader, ecg_id, **query)
        assert status == 422, (query, status, raw)
    status, _, _ = await window(reader, 999999, start=0)
    assert status == 404

    # scope: another clinic and another kind of specialist see nothing
    for name in ("dr-township", "radiologist", "lab-tech"):
        other = await api.login(name)
        assert (await window(other, ecg_id, start=0))[0] == 404, name
        assert (await other.get(f"/api/v1/ecgs/{ecg_id}/overview")).status == 404, name

    # no signing unseen: the sender's view does not count for the reader, a part is not enough
    report_id = await draft(reader, request_id)
    refused = await reader.post(f"/api/v1/reports/{report_id}/sign")
    assert refused.status == 409 and refused.body["error"]["code"] == "ecg_not_viewed"
    assert (await reader.get(f"/api/v1/ecgs/{ecg_id}/reading")).ok()["unseen"] == ["tracing"]
    assert (await window(village, ecg_id, start=0, duration=10))[0] == 200
    assert (await reader.post(f"/api/v1/reports/{report_id}/sign")).status == 409
    status, _, _ = await window(reader, ecg_id, start=0, duration=10, leads="I,II")
    assert status == 200
    assert (await reader.get(f"/api/v1/ecgs/{ecg_id}/reading")).ok()["unseen"] == []
    signed = (await reader.post(f"/api/v1/reports/{report_id}/sign")).ok()
    assert signed["status"] == "final"

    # every read of a window is audited
    async with api.center.sessions() as session:
        from consult.models import AuditRecord

        actions = list(
            await session.scalars(
                select(AuditRecord.action).where(
                    AuditRecord.patient_id == patient["id"], AuditRecord.action == "ecg.window"
                )
            )
        )
    assert len(actions) >= 4


async def test_thirty_minute_record_overview_windows_and_sign(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village, "长程患者")
    data = long_zip()
    status, body = await upload(village, patient["id"], data, "100.zip")
    assert status == 201, body
    ecg_id, request_id = body["ecg"]["id"], body["request"]["id"]
    assert body["ecg"]["duration_s"] >= 1800

    # the whole record as JSON is refused; windows are small and equal the file's samples
    too_long = await reader.get(f"/api/v1/ecgs/{ecg_id}/samples")
    assert too_long.status == 413 and too_long.body["error"]["code"] == "record_too_long"
    status, headers, raw = await window(reader, ecg_id, start=600, duration=60, leads="V5")
    assert status == 200
    fs = float(headers["X-Ecg-Fs"])
    leads, mv = decoded(headers, raw)
    assert leads == ["V5"] and mv.shape == (1, round(60 * fs)) and len(raw) == 2 * mv.size
    if MITDB_100.with_suffix(".dat").exists():
        start = int(headers["X-Ecg-Start"])
        truth = wfdb.rdrecord(str(MITDB_100), sampfrom=start, sampto=start + mv.shape[1])
        assert np.abs(mv[0] - truth.p_signal[:, 1]).max() <= 0.0006
    status, _, _ = await window(reader, ecg_id, start=0, duration=60)  # 2 leads x 60 s is fine
    assert status == 200

    # sign: the overview and one page are needed
    report_id = await draft(reader, request_id)
    overview = (await reader.get(f"/api/v1/ecgs/{ecg_id}/overview")).ok()
    assert overview["long"] is True and overview["bin_s"] == 10
    assert len(overview["hr"]) == int(np.ceil(overview["duration_s"] / 10))
    rates = [v for v in overview["hr"] if v is not None]
    assert len(rates) > 0.9 * len(overview["hr"]) and 55 < float(np.median(rates)) < 95
    assert overview["leads"] == ["II", "V5"]
    assert all(e["kind"] and e["end_s"] >= e["start_s"] for e in overview["episodes"])
    assert (await reader.get(f"/api/v1/ecgs/{ecg_id}/reading")).ok()["unseen"] == []
    signed = (await reader.post(f"/api/v1/reports/{report_id}/sign")).ok()
    assert signed["status"] == "final"


@pytest.mark.parametrize("episode_at", [1500.0])
async def test_a_critical_episode_must_be_seen_before_signing(api: Api, episode_at: float) -> None:
    """Episodes as the analysis will carry them (the agreed shape): the VT run's page is needed.

    Until the episode analysis lands, the stored analysis is given a VT episode and a non-critical
    couplet directly; the overview and the sign check read whatever the analysis holds.
    """
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village, "室速患者")
    record = synth(SynthSpec(rate_bpm=80, seconds=1800.0, fs=250.0, seed=5))
    from ecg.record import EcgRecord

    two = EcgRecord(record.samples[[1, 10]], record.fs, ("II", "V5"))
    status, body = await upload(village, patient["id"], wfdb_zip(two, "vt"), "vt.zip")
    assert status == 201, body
    ecg_id, request_id = body["ecg"]["id"], body["request"]["id"]
    episodes = [
        {
            "kind": "couplet",
            "start_s": 300.0,
            "end_s": 300.8,
            "beats": 2,
            "rate_bpm": 150,
            "label_zh": "成对室早",
            "label_en": "Ventricular couplet",
            "critical": False,
        },
        {
            "kind": "vt",
            "start_s": episode_at,
            "end_s": episode_at + 4.0,
            "beats": 10,
            "rate_bpm": 170,
            "label_zh": "室性心动过速",
            "label_en": "Ventricular tachycardia",
            "critical": True,
        },
        {
            "kind": "af",
            "start_s": 600.0,
            "end_s": 1050.0,
            "beats": 700,
            "rate_bpm": 110,
            "label_zh": "心房颤动",
            "label_en": "Atrial fibrillation",
            "critical": False,
        },
    ]
    async with api.center.sessions() as session, session.begin():
        row = await session.get(EcgRecording, ecg_id)
        assert row is not None
        # the injected episodes replace the analysis's own, so its burden goes with them
        kept = {k: v for k, v in row.analysis.items() if k != "af_burden_percent"}
        row.analysis = {**kept, "episodes": episodes}

    overview = (await reader.get(f"/api/v1/ecgs/{ecg_id}/overview")).ok()
    assert [e["kind"] for e in overview["episodes"]] == ["couplet", "af", "vt"]
    assert overview["af_burden_percent"] == 25.0  # 450 s of 1800 s
    assert overview["must_view"] == [[episode_at, episode_at + 4.0]]
    report_id = await draft(reader, request_id)
    assert (await window(reader, ecg_id, start=0, duration=60))[0] == 200
    unseen = (await reader.get(f"/api/v1/ecgs/{ecg_id}/reading")).ok()["unseen"]
    assert unseen == [f"episode@{episode_at:.1f}"]
    refused = await reader.post(f"/api/v1/reports/{report_id}/sign")
    assert refused.status == 409 and refused.body["error"]["code"] == "ecg_not_viewed"
    assert (await window(reader, ecg_id, start=episode_at - 30, duration=60))[0] == 200
    assert (await reader.post(f"/api/v1/reports/{report_id}/sign")).ok()["status"] == "final"


async def test_a_tracing_that_cannot_be_drawn_says_so_and_is_not_signed(api: Api) -> None:
    from tests.web.conftest import app_of
    from web.ecg_wiring import ECG_INGEST

    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village)
    status, body = await upload(village, patient["id"], wfdb_zip(synth(SynthSpec()), "x"), "x.zip")
    assert status == 201, body
    ecg_id, request_id = body["ecg"]["id"], body["request"]["id"]
    # the stored original no longer reads (a damaged disk, a reader that changed)
    async with api.center.sessions() as session:
        row = await session.get(EcgRecording, ecg_id)
        assert row is not None
        path = app_of(api)[ECG_INGEST].files.path(row.sha256)
    path.write_bytes(b"PK\x03\x04 damaged")
    status, _, raw = await window(reader, ecg_id, start=0, duration=10)
    error = json.loads(raw)["error"]
    assert (
        status == 422 and error["code"] == "tracing_unreadable" and "无法显示" in error["message"]
    )
    assert (await reader.get(f"/api/v1/ecgs/{ecg_id}/overview")).status == 422
    report_id = await draft(reader, request_id)
    refused = await reader.post(f"/api/v1/reports/{report_id}/sign")
    assert refused.status == 409 and refused.body["error"]["code"] == "ecg_not_viewed"
