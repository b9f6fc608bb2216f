"""Scoping, the two-person release, specimens rejected, critical values escalated, the
catalogue edited by administrators, orders sent to the LIS — over the real API."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from consult.models import AuditRecord
from lab import critical
from lab.hl7 import build_ack, parse
from lab.mllp import MllpServer
from tests.conftest import Api, Database, make_settings
from web.app import create_app

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

K, HGB = "2823-3", "718-7"


class FakeLis:
    """A LIS on loopback that takes orders and answers AA."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.server = MllpServer(self.handle)

    async def handle(self, raw: bytes, peer: str) -> bytes:
        self.messages.append(raw.decode())
        return build_ack(parse(raw.decode()), "AA").encode()


@pytest.fixture
async def lab_api(tmp_path: Path, database: Database) -> AsyncIterator[tuple[Api, FakeLis]]:
    lis = FakeLis()
    await lis.server.start("127.0.0.1", 0)
    settings = make_settings(tmp_path, database, lis_host="127.0.0.1", lis_port=lis.server.port)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        yield Api(client), lis
    finally:
        await client.close()
        await lis.server.stop()


async def order_for(doctor: Any, tests: list[str]) -> dict[str, Any]:
    patient_id = (await doctor.get("/api/v1/patients")).ok()[0]["id"]
    body = {"patient_id": patient_id, "tests": tests, "priority": "urgent"}
    return (await doctor.post("/api/v1/lab/orders", body)).ok()  # type: ignore[no-any-return]


async def test_rules(lab_api: tuple[Api, FakeLis]) -> None:
    api, lis = lab_api
    doctor, other = await api.login("dr-village"), await api.login("dr-township")
    tech, supervisor = await api.login("lab-tech"), await api.login("lab-supervisor")
    admin, ecg = await api.login("admin"), await api.login("ecg-reader")

    # --- catalogue: everyone reads, administrators edit
    tests = {t["code"]: t for t in (await doctor.get("/api/v1/lab/tests")).ok()}
    for panel in ("58410-2", "51990-0", "24323-8", "24331-1", "24356-8", "COAG4"):
        assert tests[panel]["components"], panel
    for single in ("4548-4", "10839-9"):
        assert tests[single]["unit"]
        assert not tests[single]["components"]
    detail = (await doctor.get(f"/api/v1/lab/tests/{HGB}")).ok()
    assert {(r["sex"], r["low"]) for r in detail["ranges"]} >= {("M", 130), ("F", 115)}
    new = {
        "code": "1988-5",
        "name": "C反应蛋白",
        "name_en": "C reactive protein",
        "unit": "mg/L",
        "specimen_type": "serum",
        "ranges": [{"high": 10, "critical_high": 300, "plausible_low": 0, "plausible_high": 1000}],
    }
    assert (await tech.post("/api/v1/lab/tests", new)).status == 403
    assert (
        await admin.post("/api/v1/lab/tests", {**new, "ranges": [{"low": 5, "high": 1}]})
    ).status == 422
    assert (await admin.post("/api/v1/lab/tests", new)).ok()["code"] == "1988-5"
    assert len((await doctor.get("/api/v1/lab/tests/1988-5")).ok()["ranges"]) == 1

    # --- an order goes to the LIS as OML^O21
    order = await order_for(doctor, ["51990-0", "1988-5"])
    oid = order["id"]
    for _ in range(100):
        if lis.messages:
            break
        await asyncio.sleep(0.1)
    assert lis.messages, "the order never reached the LIS"
    oml = lis.messages[0]
    assert "OML^O21" in oml
    assert f"ORC|NW|{order['placer_number']}" in oml
    assert "1988-5^" in oml

    # --- scoping: another clinic, or a specialist of another kind, sees nothing
    patient_id = order["patient_id"]
    specimen_id = order["specimens"][0]["id"]
    for user in (other, ecg):
        assert (await user.get(f"/api/v1/lab/orders/{oid}")).status == 404
        assert (await user.get(f"/api/v1/lab/orders/{oid}/results")).status == 404
        assert (await user.post(f"/api/v1/lab/specimens/{specimen_id}/collect", {})).status == 404
        assert (await user.get(f"/api/v1/lab/patients/{patient_id}/results?code={K}")).status == 404
        assert order["id"] not in [o["id"] for o in (await user.get("/api/v1/lab/orders")).ok()]
    body = {"patient_id": patient_id, "tests": ["4548-4"]}
    assert (await other.post("/api/v1/lab/orders", body)).status == 404
    bad = {"patient_id": patient_id, "tests": ["no-such"]}
    assert (await doctor.post("/api/v1/lab/orders", bad)).status == 422

    # --- a rejected specimen: the clinic hears why, and sends another
    (await doctor.post(f"/api/v1/lab/specimens/{specimen_id}/collect", {})).ok()
    rejected = (
        await tech.post(f"/api/v1/lab/specimens/{specimen_id}/reject", {"reason": "haemolysed"})
    ).ok()
    assert rejected["status"] == "rejected"
    assert rejected["rejection_reason"] == "haemolysed"
    notes = (await doctor.get("/api/v1/notifications")).ok()
    assert any(n["kind"] == "lab.specimen.rejected" for n in notes)
    again = await doctor.post(f"/api/v1/lab/orders/{oid}/specimens", {"specimen_type": "serum"})
    assert again.ok()["label"].endswith("-02")
    assert (await doctor.get(f"/api/v1/lab/orders/{oid}")).ok()["status"] == "ordered"

    # --- no results before a specimen is collected (nothing stored, the attempt audited)
    early = {"results": [{"code": K, "value": "2.1"}]}
    refused = await tech.post(f"/api/v1/lab/orders/{oid}/results", early)
    assert refused.status == 409
    assert refused.body["error"]["code"] == "specimen_not_collected"
    assert (await tech.get(f"/api/v1/lab/orders/{oid}/results")).ok() == []
    (await doctor.post(f"/api/v1/lab/specimens/{again.body['id']}/collect", {})).ok()

    # --- two-person release
    results = {
        "results": [
            {"code": K, "value": "2.1"},
            {"code": HGB, "value": "1", "unit": "x"},
            {"code": "2160-0", "value": "2,1"},
        ]
    }
    assert (await doctor.post(f"/api/v1/lab/orders/{oid}/results", results)).status == 403
    stored = (await tech.post(f"/api/v1/lab/orders/{oid}/results", results)).ok()
    assert stored["critical"] == 1
    assert stored["stored"][0]["flag"] == "LL"
    refused_codes = [(r["code"], r["reason_code"]) for r in stored["refused"]]
    assert refused_codes == [(HGB, "wrong_unit"), ("2160-0", "not_numeric")]
    assert (await tech.post(f"/api/v1/lab/orders/{oid}/release")).status == 403
    own = {"results": [{"code": "2951-2", "value": "140"}]}
    (await supervisor.post(f"/api/v1/lab/orders/{oid}/results", own)).ok()
    assert (await supervisor.post(f"/api/v1/lab/orders/{oid}/release")).status == 403
    (await tech.post(f"/api/v1/lab/orders/{oid}/results", own)).ok()  # the technician re-enters
    assert (await supervisor.post(f"/api/v1/lab/orders/{oid}/release")).ok()["report_version"] == 1

    # --- the critical value escalates when nobody acknowledges it in time
    alerts = (await doctor.get(f"/api/v1/lab/alerts?request_id={order['request_id']}")).ok()
    assert len(alerts) == 1
    assert alerts[0]["acknowledged_at"] is None
    async with api.center.work() as work:
        assert await critical.escalate_overdue(work, 15) == 0
    async with api.center.work() as work:
        work.now += dt.timedelta(minutes=16)
        assert await critical.escalate_overdue(work, 15) == 1
    async with api.center.work() as work:
        work.now += dt.timedelta(minutes=30)
        assert await critical.escalate_overdue(work, 15) == 0  # once only
    kinds = [n["kind"] for n in (await supervisor.get("/api/v1/notifications")).ok()]
    assert "critical.escalated" in kinds
    assert "critical.alert" in kinds
    ack = {"method": "in_app"}
    assert (await other.post(f"/api/v1/lab/alerts/{alerts[0]['id']}/ack", ack)).status == 404
    assert (
        await doctor.post(f"/api/v1/lab/alerts/{alerts[0]['id']}/ack", {"method": "phone"})
    ).status == 422
    done = (await doctor.post(f"/api/v1/lab/alerts/{alerts[0]['id']}/ack", ack)).ok()
    assert done["method"] == "in_app"
    assert done["escalated_at"] is not None
    assert (await doctor.post(f"/api/v1/lab/alerts/{alerts[0]['id']}/ack", ack)).status == 409

    # --- reading results is audited; a trend by LOINC code
    trend = (await doctor.get(f"/api/v1/lab/patients/{patient_id}/results?code={K}")).ok()
    assert [r["value"] for r in trend] == ["2.1"]
    released = (await doctor.get(f"/api/v1/lab/orders/{oid}/results")).ok()
    assert {r["test_code"] for r in released} == {K, "2951-2"}
    async with api.center.sessions() as session:
        actions = set(
            await session.scalars(
                select(AuditRecord.action).where(AuditRecord.patient_id == patient_id)
            )
        )
    assert {"lab.results.read", "lab.results.trend", "critical.ack"} <= actions
