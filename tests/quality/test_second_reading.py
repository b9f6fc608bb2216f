"""Second reading before release: the first reader cannot read their own report twice, the
clinic sees nothing until a different specialist's verdict, sampling follows the recorded
bucket, discrepancy rates computed here match the API, two second readers racing give one
verdict (both backends)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from consult.models import Patient, ReportDelivery
from consult.policy import sample_bucket
from consult.quality_tables import SecondReading
from tests.conftest import Api, ApiUser, Database, make_settings
from tests.core.helpers import new_patient, new_request
from web.settings import Settings

SAMPLE_PERCENT = 50.0
DISPLAY = {"ecg-reader": "陈医生 (心电)", "ecg-reader2": "林医生 (心电)"}


@pytest.fixture
def settings(tmp_path: Path, seeded_database: Database) -> Settings:
    """Every stat ECG and half of the others are read twice."""
    rule = {"priorities": ["stat"], "sample_percent": SAMPLE_PERCENT}
    return make_settings(tmp_path, seeded_database, second_reading={"ecg_read": rule})


async def signed(
    village: ApiUser, reader: ApiUser, priority: str, name: str = "复核甲"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A request of the village doctor, accepted, written and signed by ``reader``."""
    patient = await new_patient(village, name)
    request = await new_request(village, patient["id"], "ecg_read", priority)
    (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    draft = (
        await reader.post(f"/api/v1/requests/{request['id']}/reports", {"findings": "窦性心律"})
    ).ok()
    return request, (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()


async def visible(village: ApiUser, request: dict[str, Any], report: dict[str, Any]) -> bool:
    """Whether the clinic sees the report anywhere: the versions, the report, the inbox."""
    versions = (await village.get(f"/api/v1/requests/{request['id']}/reports")).ok()
    one = await village.get(f"/api/v1/reports/{report['id']}")
    inbox = (await village.get("/api/v1/inbox")).ok()
    delivered = any(d["report"]["id"] == report["id"] for d in inbox)
    seen = [any(v["id"] == report["id"] for v in versions), one.status == 200, delivered]
    assert len(set(seen)) == 1, seen
    return seen[0]


async def test_second_reading_before_release(api: Api) -> None:
    village = await api.login("dr-village")
    reader, reader2, head = [await api.login(u) for u in ("ecg-reader", "ecg-reader2", "ecg-head")]
    request, report = await signed(village, reader, "stat")
    url = f"/api/v1/reports/{report['id']}/second-reading"
    assert report["status"] == "final"
    assert not await visible(village, request, report)
    assert (await village.get(f"/api/v1/requests/{request['id']}")).ok()["status"] != "completed"

    # the first reader may neither read it second nor amend it meanwhile; the clinic may not
    own = await reader.post(url, {"discrepancy": "none"})
    assert own.status == 403 and own.body["error"]["code"] == "same_reader"
    amend = await reader.post(
        f"/api/v1/reports/{report['id']}/amend", {"reason": "改", "findings": "改"}
    )
    assert amend.status == 409 and amend.body["error"]["code"] == "second_reading_pending"
    assert (await village.post(url, {"discrepancy": "none"})).status == 403
    assert [q["report_id"] for q in (await reader2.get("/api/v1/second-readings")).ok()] == [
        report["id"]
    ]
    assert (await reader.get("/api/v1/second-readings")).ok() == []
    for bad, status in [
        ({"discrepancy": "huge"}, 422),
        ({"discrepancy": "minor"}, 422),  # no note
        ({"discrepancy": "major", "note": "漏诊"}, 422),  # no corrected text
        ({"discrepancy": "none", "patient_id": 1}, 422),
    ]:
        r = await reader2.post(url, bad)
        assert r.status == status, (bad, r.body)
    assert (
        await reader2.post("/api/v1/reports/99999999/second-reading", {"discrepancy": "none"})
    ).status == 404
    assert not await visible(village, request, report)

    verdicts: list[tuple[str, str]] = []  # (first reader, discrepancy)
    done = (await reader2.post(url, {"discrepancy": "minor", "note": "ST段描述欠详"})).ok()
    verdicts.append(("ecg-reader", "minor"))
    assert done["status"] == "done" and done["second_reader_id"] != done["first_reader_id"]
    assert await visible(village, request, report)
    assert (await village.get(f"/api/v1/requests/{request['id']}")).ok()["status"] == "completed"
    again = await head.post(url, {"discrepancy": "none"})
    assert again.status == 409 and again.body["error"]["code"] == "second_reading_taken"

    # a major discrepancy: the second reader signs the correction, released as an amendment
    request2, report2 = await signed(village, reader2, "stat", "复核乙")
    major = {"discrepancy": "major", "note": "漏诊下壁心梗", "impression": "急性下壁心梗"}
    done2 = (await head.post(f"/api/v1/reports/{report2['id']}/second-reading", major)).ok()
    verdicts.append(("ecg-reader2", "major"))
    versions = (await village.get(f"/api/v1/requests/{request2['id']}/reports")).ok()
    assert [v["status"] for v in versions] == ["final", "amended"]
    assert versions[1]["id"] == done2["amended_report_id"]
    assert (
        versions[1]["impression"] == "急性下壁心梗"
        and versions[1]["signer_name"] == "黄主任 (心内科)"
    )
    assert versions[0]["superseded_by_id"] == versions[1]["id"]

    # routine reads: sampled by the bucket of their identifier, recorded on signing
    for index in range(4):
        routine, rep = await signed(village, reader, "routine", f"复核丙{index}")
        sampled = sample_bucket(routine["identifier"]) < SAMPLE_PERCENT * 100
        assert await visible(village, routine, rep) is not sampled
        async with api.center.work() as work:
            row = await work.session.scalar(
                select(SecondReading).where(SecondReading.report_id == rep["id"])
            )
        assert row is not None and row.required is sampled
        assert row.sample_bucket == sample_bucket(routine["identifier"])
        if sampled:
            r = (
                await head.post(
                    f"/api/v1/reports/{rep['id']}/second-reading", {"discrepancy": "none"}
                )
            ).ok()
            assert r["discrepancy"] == "none"
            verdicts.append(("ecg-reader", "none"))
            assert await visible(village, routine, rep)

    # the discrepancy rates, computed here, and the supervisor sees no patient in them
    expected: dict[str, dict[str, int]] = {}
    for first, verdict in verdicts:
        row = expected.setdefault(DISPLAY[first], {"n": 0, "minor": 0, "major": 0})
        row["n"] += 1
        row[verdict] = row.get(verdict, 0) + 1
    async with api.center.work() as work:
        names = {n for n in await work.session.scalars(select(Patient.name)) if len(n) >= 2}
    for who in ("admin", "supervisor"):
        user = await api.login(who)
        raw = await user.get("/api/v1/statistics/quality")
        got = {r["reader_name"]: r for r in raw.ok()["readers"]}
        text = json.dumps(raw.body, ensure_ascii=False)
        assert not [n for n in names if n in text]
        assert "patient" not in text
        assert len(got) == len(expected)
        for first, row in expected.items():
            mine = got[first]
            assert (mine["second_readings"], mine["minor"], mine["major"]) == (
                row["n"],
                row["minor"],
                row["major"],
            )
            assert mine["discrepancy_rate"] == pytest.approx(
                (row["minor"] + row["major"]) / row["n"]
            )
    assert (await village.get("/api/v1/statistics/quality")).status == 403


@pytest.mark.both_backends  # one owner under concurrency
async def test_two_second_readers_at_once(api: Api) -> None:
    village = await api.login("dr-village")
    reader, reader2, head = [await api.login(u) for u in ("ecg-reader", "ecg-reader2", "ecg-head")]
    _, report = await signed(village, reader, "stat", "复核丁")
    url = f"/api/v1/reports/{report['id']}/second-reading"
    for _ in range(3):  # warm both connections so that the two calls really overlap
        await reader2.get("/api/v1/second-readings")
        await head.get("/api/v1/second-readings")
    results = await asyncio.gather(
        reader2.post(url, {"discrepancy": "none"}), head.post(url, {"discrepancy": "none"})
    )
    statuses = sorted(r.status for r in results)
    assert statuses == [200, 409], [r.body for r in results]
    lost = next(r for r in results if r.status == 409)
    assert lost.body["error"]["code"] == "second_reading_taken"
    async with api.center.work() as work:
        deliveries = await work.session.scalar(
            select(func.count()).where(ReportDelivery.report_id == report["id"])
        )
    assert deliveries == 1
