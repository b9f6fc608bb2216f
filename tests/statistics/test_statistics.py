"""Statistics against a seeded data set whose figures the test computes itself: requests made
and completed at known times through the API, a critical alert acknowledged, referrals opened and
cancelled; both backends."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest

from consult import critical
from consult.critical import Finding
from consult.models import DiagnosticRequest
from tests.conftest import Api, ApiUser, Database, make_settings
from tests.core.helpers import new_patient, new_request
from web.settings import Settings

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
SINCE, UNTIL = T0 - dt.timedelta(hours=1), T0 + dt.timedelta(days=2)
DEADLINE = {("ecg_read", "routine"): 120, ("ecg_read", "stat"): 10}


@pytest.fixture
def settings(tmp_path: Path, seeded_database: Database) -> Settings:
    """Tokens that outlive the days the test's clock moves through."""
    return make_settings(tmp_path, seeded_database, token_ttl_minutes=60 * 24 * 30)


@dataclass
class Clock:
    """The center's clock, moved by the test."""

    at: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.at

    def set(self, at: dt.datetime) -> None:
        self.at = at


@dataclass(frozen=True)
class Read:
    """One ECG request: who sends it, its priority, when it is made and read (None: never)."""

    sender: str
    priority: str
    made: dt.timedelta
    minutes: float | None
    outcome: str | None = None
    """The reader's call on the report (positive / negative; None: no call)."""


READS = [
    Read("dr-village", "routine", dt.timedelta(minutes=0), 20, "negative"),
    Read("dr-village", "routine", dt.timedelta(minutes=10), 50.5, "positive"),
    Read("dr-village", "routine", dt.timedelta(hours=2), 130, "negative"),
    Read("dr-village", "routine", dt.timedelta(hours=3), 7),
    Read("dr-village", "stat", dt.timedelta(hours=5), 5, "positive"),
    Read("dr-village", "stat", dt.timedelta(hours=6), 15, "positive"),
    Read("dr-village", "stat", dt.timedelta(hours=7), None),  # left open: overdue
    Read("dr-township", "routine", dt.timedelta(hours=1), 60, "negative"),
    Read("dr-township", "routine", dt.timedelta(hours=8), 200),
    Read("dr-village", "routine", dt.timedelta(hours=-2), 30, "positive"),  # before the period
    Read("dr-village", "routine", dt.timedelta(days=3), 30, "positive"),  # after it
]


async def _read(api: Api, clock: Clock, read: Read, reader: ApiUser) -> dict[str, Any]:
    sender = await api.login(read.sender)
    clock.set(T0 + read.made)
    patient = await new_patient(sender, f"统计{read.sender[-1]}{int(read.made.total_seconds())}")
    request = await new_request(sender, patient["id"], "ecg_read", read.priority)
    if read.minutes is not None:
        clock.set(T0 + read.made + dt.timedelta(minutes=1))
        (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
        body = {"findings": "正常", "data": {"outcome": read.outcome} if read.outcome else {}}
        draft = (await reader.post(f"/api/v1/requests/{request['id']}/reports", body)).ok()
        clock.set(T0 + read.made + dt.timedelta(minutes=read.minutes))
        (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()
    return request


def _in_period(read: Read) -> bool:
    return SINCE <= T0 + read.made < UNTIL


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q * 100, method="linear"))


async def seed(api: Api) -> tuple[Clock, dict[str, int], list[dict[str, Any]]]:
    clock = Clock()
    api.center.clock = clock
    reader = await api.login("ecg-reader")
    requests = [await _read(api, clock, read, reader) for read in READS]
    admin = await api.login("admin")
    codes = {i["code"]: i["id"] for i in (await admin.get("/api/v1/institutions")).ok()}
    return clock, codes, requests


async def test_statistics_match_the_seeded_requests(api: Api) -> None:
    clock, codes, requests = await seed(api)
    village, township = await api.login("dr-village"), await api.login("dr-township")
    # a cancelled consult, and a lab test left open
    clock.set(T0 + dt.timedelta(hours=9))
    patient = await new_patient(village, "统计会诊")
    consult = await new_request(village, patient["id"], "video_consult")
    (await village.post(f"/api/v1/requests/{consult['id']}/cancel", {"reason": "患者已好转"})).ok()
    await new_request(village, patient["id"], "lab_test", "routine")
    # a critical alert on the open stat ECG, acknowledged 4 minutes later; one never acknowledged
    stat_open = requests[6]
    alerts = []
    for index, request in enumerate((stat_open, requests[7])):
        clock.set(T0 + dt.timedelta(hours=10 + index))
        async with api.center.work() as work:
            row = await work.session.get(DiagnosticRequest, request["id"])
            assert row is not None
            finding = Finding("ecg", 900000 + index, "STEMI", "STEMI", "急性心梗")
            alerts += await critical.raise_alerts(work, row, [finding])
    clock.set(T0 + dt.timedelta(hours=10, minutes=4))
    (await village.post(f"/api/v1/alerts/{alerts[0].id}/ack", {"method": "in_app"})).ok()
    # referrals from dr-village's clinic: one open, one cancelled
    reader = await api.login("ecg-reader")
    reports = [
        (await reader.get(f"/api/v1/requests/{requests[i]['id']}/reports")).ok()[-1] for i in (0, 1)
    ]
    referrals = []
    for report in reports:
        body = {"report_id": report["id"], "department": "cardiology", "urgency": "urgent"}
        referrals.append((await reader.post("/api/v1/referrals", {**body, "reason": "复查"})).ok())
    (await reader.post(f"/api/v1/referrals/{referrals[1]['id']}/cancel", {"reason": "拒绝"})).ok()
    clock.set(T0 + dt.timedelta(days=1, hours=12))  # "now": the open stat ECG is overdue

    admin = await api.login("admin")
    params = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    stats = (await admin.get("/api/v1/statistics", params=params)).ok()

    expected: dict[tuple[str, str], list[float]] = {}
    for read in READS:
        if _in_period(read) and read.minutes is not None:
            expected.setdefault(("ecg_read", read.priority), []).append(read.minutes)
    got = {(t["kind"], t["priority"]): t for t in stats["turnaround"]}
    assert set(got) == set(expected)
    for key, minutes in expected.items():
        row = got[key]
        assert row["completed"] == len(minutes)
        assert row["median_minutes"] == pytest.approx(_percentile(minutes, 0.5), abs=0.01)
        assert row["p90_minutes"] == pytest.approx(_percentile(minutes, 0.9), abs=0.01)
        within = sum(m <= DEADLINE[key] for m in minutes)
        assert row["within_deadline"] == within
        assert row["within_deadline_share"] == pytest.approx(within / len(minutes))

    volumes = {(v["institution_id"], v["kind"]): v for v in stats["volumes"]}
    liujia, xihe = codes["vc-liujia"], codes["th-xihe"]
    village_reads = [r for r in READS if r.sender == "dr-village" and _in_period(r)]
    assert volumes[(liujia, "ecg_read")] == {
        "institution_id": liujia,
        "kind": "ecg_read",
        "requests": len(village_reads),
        "completed": sum(r.minutes is not None for r in village_reads),
        "cancelled": 0,
        "open": 1,
        "overdue": 1,
    }
    assert volumes[(xihe, "ecg_read")]["requests"] == 2
    assert volumes[(liujia, "video_consult")]["cancelled"] == 1
    assert volumes[(liujia, "lab_test")]["open"] == 1
    assert volumes[(liujia, "lab_test")]["overdue"] == 1  # 1440 min deadline, 27 h later
    assert stats["consults_requested"] == 1 and stats["consults_completed"] == 0
    assert stats["critical"] == {
        "raised": 2,
        "acknowledged": 1,
        "median_ack_minutes": pytest.approx(4, abs=0.01),
        "p90_ack_minutes": pytest.approx(4, abs=0.01),
    }
    assert stats["referrals"]["up"] == 2 and stats["referrals"]["cancelled"] == 1
    assert stats["referrals"]["open"] == 1 and stats["referrals"]["completion_share"] == 0

    # one township (with its villages): dr-village's requests, not dr-township's
    dongcheng = (
        await admin.get(
            "/api/v1/statistics", params={**params, "institution_id": codes["th-dongcheng"]}
        )
    ).ok()
    assert {v["institution_id"] for v in dongcheng["volumes"]} == {liujia}
    assert dongcheng["critical"]["raised"] == 1 and dongcheng["referrals"]["up"] == 2
    # a township doctor sees their own institution only, whatever is asked
    own = (await township.get("/api/v1/statistics", params=params)).ok()
    assert {v["institution_id"] for v in own["volumes"]} == {xihe}
    assert own["critical"]["raised"] == 1 and own["referrals"]["up"] == 0
    other = await township.get("/api/v1/statistics", params={**params, "institution_id": liujia})
    assert other.status == 404

    # positive rates: the readers' calls on the signed reports, per clinic
    positives = {(p["institution_id"], p["kind"]): p for p in stats["positives"]}
    for sender, inst in (("dr-village", liujia), ("dr-township", xihe)):
        signed = [
            r for r in READS if r.sender == sender and _in_period(r) and r.minutes is not None
        ]
        pos = sum(r.outcome == "positive" for r in signed)
        neg = sum(r.outcome == "negative" for r in signed)
        assert positives[(inst, "ecg_read")] == {
            "institution_id": inst,
            "kind": "ecg_read",
            "reported": len(signed),
            "positive": pos,
            "negative": neg,
            "positive_share": pytest.approx(pos / (pos + neg)),
        }
    # the specialist's workload: every report signed, and the time from request to signature
    signed_minutes = [r.minutes for r in READS if _in_period(r) and r.minutes is not None]
    (load,) = [w for w in stats["workload"] if w["kind"] == "ecg_read"]
    assert (load["name"], load["signed"], load["amended"]) == (
        "陈医生 (心电)",
        len(signed_minutes),
        0,
    )
    assert load["median_minutes"] == pytest.approx(_percentile(signed_minutes, 0.5), abs=0.01)

    # the CSV export says the same
    raw = (await admin.get("/api/v1/statistics.csv", params=params)).ok()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    median = next(
        r
        for r in rows
        if r["section"] == "turnaround"
        and (r["kind"], r["priority"]) == ("ecg_read", "routine")
        and r["measure"] == "median_minutes"
    )
    assert float(median["value"]) == pytest.approx(got[("ecg_read", "routine")]["median_minutes"])

    # and the XLSX export, read back, holds the JSON's figures as numbers
    book = openpyxl.load_workbook(
        io.BytesIO((await admin.get("/api/v1/statistics.xlsx", params=params)).ok())
    )
    sheet = book["statistics"]
    cells = list(sheet.iter_rows(values_only=True))
    assert list(cells[0]) == ["section", "institution_id", "kind", "priority", "measure", "value"]
    assert len(cells) == len(rows) + 1
    figures = {(r[0], r[1], r[2], r[3], r[4]): r[5] for r in cells[1:]}
    for v in stats["volumes"]:
        for measure in ("requests", "completed", "cancelled", "open", "overdue"):
            assert figures[("volume", v["institution_id"], v["kind"], None, measure)] == v[measure]
    for (kind, priority), t in got.items():
        for measure in ("completed", "median_minutes", "p90_minutes", "within_deadline_share"):
            cell = figures[("turnaround", None, kind, priority, measure)]
            assert cell == pytest.approx(t[measure])
    for section in ("critical", "referrals"):
        for name, value in stats[section].items():
            assert figures[(section, None, None, None, name)] == (
                pytest.approx(value) if value is not None else None
            )


BAD: list[tuple[dict[str, str], Callable[[int], bool]]] = [
    ({"since": "yesterday"}, lambda s: s == 422),
    ({"since": "2026-06-01T00:00:00"}, lambda s: s == 422),  # no time zone
    ({"since": "2026-06-02T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, lambda s: s == 422),
    ({"since": "1900-01-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, lambda s: s == 422),
    ({"institution_id": "0"}, lambda s: s == 422),
    ({"institution_id": "99999999999999999999"}, lambda s: s == 422),
    ({"institution_id": "999999"}, lambda s: s == 404),
    ({"patient_id": "1"}, lambda s: s == 422),
]


async def test_bad_queries_are_4xx(api: Api) -> None:
    admin = await api.login("admin")
    for params, ok in BAD:
        for path in ("/api/v1/statistics", "/api/v1/statistics.csv", "/api/v1/statistics.xlsx"):
            r = await admin.get(path, params=params)
            assert ok(r.status), (path, params, r.status, r.body)
            assert r.body["error"]["code"] in ("invalid_input", "not_found")


async def test_the_auditor_gets_no_statistics(api: Api) -> None:
    auditor = await api.login("auditor")
    r = await auditor.get("/api/v1/statistics")
    assert r.status == 403 and r.body["error"]["code"] == "forbidden"


async def test_a_reports_outcome_is_positive_or_negative(api: Api) -> None:
    village, reader = await api.login("dr-village"), await api.login("ecg-reader")
    patient = await new_patient(village, "结果标注")
    request = await new_request(village, patient["id"], "ecg_read")
    (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    path = f"/api/v1/requests/{request['id']}/reports"
    bad = await reader.post(path, {"findings": "正常", "data": {"outcome": "maybe"}})
    assert (bad.status, bad.body["error"]["field"]) == (422, "outcome")
    draft = (await reader.post(path, {"findings": "正常", "data": {"outcome": "negative"}})).ok()
    patched = await reader.patch(f"/api/v1/reports/{draft['id']}", {"data": {"outcome": 1}})
    assert patched.status == 422
    assert (await reader.get(f"/api/v1/requests/{request['id']}/reports")).ok()[-1]["data"] == {
        "outcome": "negative"
    }
