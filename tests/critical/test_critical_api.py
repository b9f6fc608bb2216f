"""Critical results reach everyone who must act, until someone acknowledges: a STEMI ECG and a
critical lab value through the one mechanism, acknowledgement (in app, phoned), the reader's
view of it, escalation on a moved clock, and two acknowledgements racing — over the real API,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from consult import critical
from consult.db import utcnow
from consult.models import AuditRecord
from tests.conftest import Api, ApiUser, Database, make_settings
from tests.core.helpers import Events, new_patient
from tests.ecg_center.files import stemi_zip
from tests.ecg_center.test_ecg_api import upload
from web.app import create_app

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

K = "2823-3"


@pytest.fixture
async def fast_api(tmp_path: Path, seeded_database: Database) -> AsyncIterator[Api]:
    """The server with its escalation loop looking every 0.1 s (the clock is moved by tests)."""
    settings = make_settings(tmp_path, seeded_database, critical_check_seconds=0.1)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        yield Api(client)
    finally:
        await client.close()


async def stemi_upload(village: ApiUser, name: str = "心梗患者") -> dict[str, Any]:
    patient = await new_patient(village, name, phone="13900001111")
    status, body = await upload(village, patient["id"], stemi_zip(), "stemi.zip")
    assert status == 201, body
    assert body["ecg"]["critical"] is True
    return body  # type: ignore[no-any-return]


def move_clock(api: Api, minutes: float) -> None:
    api.center.clock = lambda: utcnow() + dt.timedelta(minutes=minutes)


async def test_stemi_alerts_clinic_and_duty_desk_until_acknowledged(api: Api) -> None:
    village, desk = await api.login("dr-village"), await api.login("duty-desk")
    reader, other = await api.login("ecg-reader"), await api.login("dr-township")
    village_events, desk_events = await Events.open(village), await Events.open(desk)
    reader_events = await Events.open(reader)
    body = await stemi_upload(village)
    request_id = body["request"]["id"]

    for events in (village_events, desk_events):
        event = await events.next("critical.alert")
        alert = event["alert"]
        assert alert["request_id"] == request_id and alert["source"] == "ecg"
        assert "ST" in alert["finding"] and alert["finding_zh"]
        assert alert["patient_name"] == "心梗患者"
        assert alert["clinic_name"] == "刘家村卫生室" and alert["clinic_phone"]
        assert alert["acknowledged_at"] is None and alert["level"] == 0
        assert event["title"].startswith("危急值") and event["title_en"]
    await reader_events.next("critical")  # the readers hear of it as before

    # on page load: each one's open alerts
    for user in (village, desk):
        mine = (await user.get("/api/v1/alerts?open=true")).ok()
        assert [a["id"] for a in mine] == [alert["id"]]
    assert (await other.get("/api/v1/alerts?open=true")).ok() == []
    seen = (await reader.get(f"/api/v1/alerts?request_id={request_id}")).ok()
    assert seen[0]["id"] == alert["id"] and seen[0]["acknowledged_at"] is None

    # acknowledgement: a phone call names the person spoken to; outsiders cannot
    ack_url = f"/api/v1/alerts/{alert['id']}/ack"
    assert (await other.post(ack_url, {"method": "in_app"})).status == 404
    assert (await desk.post(ack_url, {"method": "phone"})).status == 422
    assert (await desk.post(ack_url, {"method": "fax"})).status == 422
    done = (
        await desk.post(ack_url, {"method": "phone", "notified_person": "刘医生", "note": "已转诊"})
    ).ok()
    assert done["method"] == "phone" and done["notified_person"] == "刘医生"
    assert done["acknowledged_by"] == desk.me["id"]
    assert done["acknowledged_by_name"] == "郑护士 (值班台)"
    when = dt.datetime.fromisoformat(done["acknowledged_at"])
    assert abs((when - utcnow()).total_seconds()) < 60

    # the banner leaves every page; the reader sees who acknowledged, live and in the API
    for events in (village_events, desk_events, reader_events):
        acked = await events.next("critical.ack")
        assert acked["alert"]["acknowledged_by_name"] == "郑护士 (值班台)"
    seen = (await reader.get(f"/api/v1/alerts?request_id={request_id}")).ok()
    assert seen[0]["acknowledged_by_name"] == "郑护士 (值班台)"
    assert seen[0]["method"] == "phone" and seen[0]["notified_person"] == "刘医生"
    assert (await village.get("/api/v1/alerts?open=true")).ok() == []
    again = await village.post(ack_url, {"method": "in_app"})
    assert again.status == 409 and again.body["error"]["code"] == "already_acknowledged"

    async with api.center.sessions() as session:
        acks = list(
            await session.scalars(
                select(AuditRecord).where(
                    AuditRecord.action == "critical.ack", AuditRecord.outcome == "success"
                )
            )
        )
    assert [(a.actor, a.detail["method"]) for a in acks] == [("duty-desk", "phone")]
    for events in (village_events, desk_events, reader_events):
        await events.close()


async def test_in_app_acknowledgement_by_the_clinic(api: Api) -> None:
    village = await api.login("dr-village")
    body = await stemi_upload(village)
    (alert,) = (await village.get("/api/v1/alerts?open=true")).ok()
    assert alert["request_id"] == body["request"]["id"]
    done = (await village.post(f"/api/v1/alerts/{alert['id']}/ack", {"method": "in_app"})).ok()
    assert done["method"] == "in_app" and done["acknowledged_by"] == village.me["id"]
    assert done["notified_person"] == village.me["display_name"]


async def test_escalation_township_then_duty_desk_on_a_moved_clock(fast_api: Api) -> None:
    api = fast_api
    village, desk = await api.login("dr-village"), await api.login("duty-desk")
    duty_doctor, other = await api.login("duty-dongcheng"), await api.login("dr-township")
    duty_events, desk_events = await Events.open(duty_doctor), await Events.open(desk)
    await stemi_upload(village)
    (alert,) = (await village.get("/api/v1/alerts?open=true")).ok()
    assert (await duty_doctor.get("/api/v1/alerts?open=true")).ok() == []

    await asyncio.sleep(0.3)  # the loop runs, but nothing is due yet
    assert (await village.get("/api/v1/alerts?open=true")).ok()[0]["level"] == 0

    move_clock(api, 16)  # past critical_ack_minutes (15): the township's duty doctor
    first = await duty_events.next("critical.escalated")
    assert first["alert"]["id"] == alert["id"] and first["alert"]["level"] == 1
    assert "乡镇值班医生" in first["title"]
    assert (await duty_doctor.get("/api/v1/alerts?open=true")).ok()[0]["id"] == alert["id"]
    assert (await other.get("/api/v1/alerts?open=true")).ok() == []  # another township
    assert (await desk_events.next("critical.escalated"))["alert"]["level"] == 1

    move_clock(api, 32)  # as long again: the center's duty desk
    second = await desk_events.next("critical.escalated")
    assert second["alert"]["level"] == 2 and "中心值班台" in second["title"]

    # the township duty doctor acknowledges; nothing escalates after that
    ack = {"method": "phone", "notified_person": "刘医生"}
    (await duty_doctor.post(f"/api/v1/alerts/{alert['id']}/ack", ack)).ok()
    move_clock(api, 120)
    async with api.center.work() as work:
        assert await critical.escalate_overdue(work, 15) == 0
    await desk_events.nothing("critical.escalated", wait=0.4)
    async with api.center.sessions() as session:
        steps = list(
            await session.scalars(
                select(AuditRecord.detail)
                .where(AuditRecord.action == "critical.escalate")
                .order_by(AuditRecord.id)
            )
        )
    assert [s["level"] for s in steps] == [1, 2]
    await duty_events.close()
    await desk_events.close()


async def test_acknowledged_in_time_never_escalates(api: Api) -> None:
    village = await api.login("dr-village")
    await stemi_upload(village)
    (alert,) = (await village.get("/api/v1/alerts?open=true")).ok()
    (await village.post(f"/api/v1/alerts/{alert['id']}/ack", {"method": "in_app"})).ok()
    move_clock(api, 60)
    async with api.center.work() as work:
        assert await critical.escalate_overdue(work, 15) == 0
    (seen,) = (await village.get(f"/api/v1/alerts?request_id={alert['request_id']}")).ok()
    assert seen["level"] == 0 and seen["escalated_at"] is None


async def test_lab_critical_value_goes_through_the_same_mechanism(api: Api) -> None:
    village, desk = await api.login("dr-village"), await api.login("duty-desk")
    tech, supervisor = await api.login("lab-tech"), await api.login("lab-supervisor")
    village_events, desk_events = await Events.open(village), await Events.open(desk)
    patient = await new_patient(village, "低钾患者")
    order = (
        await village.post("/api/v1/lab/orders", {"patient_id": patient["id"], "tests": [K]})
    ).ok()
    specimen = order["specimens"][0]["id"]
    (await village.post(f"/api/v1/lab/specimens/{specimen}/collect", {})).ok()
    stored = (
        await tech.post(
            f"/api/v1/lab/orders/{order['id']}/results",
            {"results": [{"code": K, "value": "2.1"}]},
        )
    ).ok()
    assert stored["critical"] == 1
    for events in (village_events, desk_events):
        alert = (await events.next("critical.alert"))["alert"]
        assert alert["source"] == "lab" and alert["code"] == K
        assert "2.1" in alert["finding"] and "危急低值" in alert["finding_zh"]
        assert alert["patient_name"] == "低钾患者"
    assert [a["id"] for a in (await supervisor.get("/api/v1/alerts?open=true")).ok()] == [
        alert["id"]
    ]
    (lab_alert,) = (await village.get("/api/v1/lab/alerts?open=true")).ok()
    assert lab_alert["id"] == alert["id"] and lab_alert["result_id"] == alert["source_id"]
    (await desk.post(f"/api/v1/alerts/{alert['id']}/ack", {"method": "in_app"})).ok()
    (acked,) = (await village.get(f"/api/v1/lab/alerts?request_id={order['request_id']}")).ok()
    assert acked["method"] == "in_app" and acked["acknowledged_by"] == desk.me["id"]
    assert (await village.get("/api/v1/alerts?open=true")).ok() == []
    await village_events.close()
    await desk_events.close()


async def test_two_acknowledgements_at_once_record_one(api: Api) -> None:
    village, desk = await api.login("dr-village"), await api.login("duty-desk")
    township_doctor = await api.login(
        "duty-dongcheng"
    )  # sees the village's requests (its township)
    await stemi_upload(village)
    (alert,) = (await village.get("/api/v1/alerts?open=true")).ok()
    url = f"/api/v1/alerts/{alert['id']}/ack"
    bodies = [
        (village, {"method": "in_app"}),
        (desk, {"method": "phone", "notified_person": "刘医生"}),
        (township_doctor, {"method": "in_app"}),
    ]
    answers = await asyncio.gather(*(user.post(url, body) for user, body in bodies))
    statuses = sorted(a.status for a in answers)
    assert statuses == [200, 409, 409], [a.body for a in answers]
    (winner,) = [a.body for a in answers if a.status == 200]
    (seen,) = (await village.get(f"/api/v1/alerts?request_id={alert['request_id']}")).ok()
    assert (seen["acknowledged_by"], seen["method"], seen["acknowledged_at"]) == (
        winner["acknowledged_by"],
        winner["method"],
        winner["acknowledged_at"],
    )
    async with api.center.sessions() as session:
        acks = list(
            await session.scalars(
                select(AuditRecord.id).where(
                    AuditRecord.action == "critical.ack", AuditRecord.outcome == "success"
                )
            )
        )
    assert len(acks) == 1
