"""Green channel: one open referral per report, the receiving department's view, real slots.

Every test runs on SQLite and (with ``TELECENTER_TEST_DATABASE_URL``) PostgreSQL; the concurrent
ones send two real HTTP requests to the server at the same moment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from consult.models import CapacitySlot, Referral
from consult.vocab import OPEN_REFERRAL_STATES
from tests.conftest import Api, ApiUser
from tests.core.helpers import Events, new_patient, new_request

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def signed_ecg_report(api: Api, name: str = "钱七") -> dict[str, Any]:
    """dr-village's ECG request, read and signed by ecg-reader: the signed report."""
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village, name)
    request = await new_request(village, patient["id"], "ecg_read", "stat")
    (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    draft = (
        await reader.post(
            f"/api/v1/requests/{request['id']}/reports",
            {"findings": "窦性心律, V1-V4 ST段抬高 0.3 mV", "impression": "急性前壁心肌梗死"},
        )
    ).ok()
    return (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()  # type: ignore[no-any-return]


async def refer(user: ApiUser, report_id: int, department: str = "cardiology") -> Any:
    return await user.post(
        "/api/v1/referrals",
        {
            "report_id": report_id,
            "department": department,
            "urgency": "stat",
            "reason": "STEMI, 急诊PCI",
            "summary": "胸痛2小时, V1-V4 ST段抬高",
        },
    )


async def publish(user: ApiUser, capacity: int = 1, **extra: Any) -> dict[str, Any]:
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
    body = {
        "department": "cardiology",
        "kind": "cath_lab",
        "place": "导管室 2号",
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=4)).isoformat(),
        "capacity": capacity,
        **extra,
    }
    return (await user.post("/api/v1/capacity", body)).ok()  # type: ignore[no-any-return]


async def test_refer_from_an_ecg_report_and_a_second_names_the_first(api: Api) -> None:
    reader = await api.login("ecg-reader")
    cardio = await api.login("cardio-desk")
    cardio_events = await Events.open(cardio)
    report = await signed_ecg_report(api)

    first = (await refer(reader, report["id"])).ok()
    assert first["status"] == "opened" and first["report_id"] == report["id"]
    assert first["request_id"] == report["request_id"] and first["summary"].startswith("胸痛")
    heard = await cardio_events.next("referral.opened")
    assert heard["referral_id"] == first["id"] and heard["report_id"] == report["id"]
    assert heard["department"] == "cardiology"

    # a second one, for the report or for its request, to any department: 409 naming the first
    for body in (
        {"report_id": report["id"], "department": "emergency"},
        {"request_id": report["request_id"], "department": "cardiology"},
    ):
        again = await reader.post("/api/v1/referrals", {**body, "reason": "再转"})
        assert again.status == 409, again.body
        error = again.body["error"]
        assert error["code"] == "referral_exists" and error["referral_id"] == first["id"]
        assert f"#{first['id']}" in error["message_zh"]

    # once the first is cancelled, the report can be referred again
    (await reader.post(f"/api/v1/referrals/{first['id']}/cancel", {"reason": "患者拒绝"})).ok()
    second = (await refer(reader, report["id"], "emergency")).ok()
    assert second["id"] != first["id"]
    await cardio_events.close()


async def test_concurrent_duplicate_referrals_open_one(api: Api) -> None:
    reader = await api.login("ecg-reader")
    village = await api.login("dr-village")
    report = await signed_ecg_report(api)
    winner: dict[str, Any] = {}
    for attempt in range(3):
        answers = await asyncio.gather(
            refer(reader, report["id"]), refer(village, report["id"], "emergency")
        )
        statuses = sorted(a.status for a in answers)
        assert statuses == ([201, 409] if attempt == 0 else [409, 409]), answers
        winner = next((a.body for a in answers if a.status == 201), winner)
        for a in answers:
            if a.status == 409:
                assert a.body["error"]["referral_id"] == winner["id"]
    async with api.center.sessions() as session:
        open_count = await session.scalar(
            select(func.count())
            .select_from(Referral)
            .where(
                Referral.request_id == report["request_id"],
                Referral.status.in_(OPEN_REFERRAL_STATES),
            )
        )
    assert open_count == 1


async def test_two_desks_accepting_the_last_slot_at_once_one_wins(api: Api) -> None:
    reader = await api.login("ecg-reader")
    cardio = await api.login("cardio-desk")
    desk = await api.login("referral-desk")
    village = await api.login("dr-village")
    village_events = await Events.open(village)
    cardio_events = await Events.open(cardio)
    slot = await publish(cardio, capacity=1)
    a = (await refer(reader, (await signed_ecg_report(api, "甲"))["id"])).ok()
    b = (await refer(reader, (await signed_ecg_report(api, "乙"))["id"])).ok()

    answers = await asyncio.gather(
        cardio.post(f"/api/v1/referrals/{a['id']}/accept", {"slot_id": slot["id"]}),
        desk.post(f"/api/v1/referrals/{b['id']}/accept", {"slot_id": slot["id"]}),
    )
    assert sorted(x.status for x in answers) == [200, 409], answers
    won = next(x.body for x in answers if x.status == 200)
    lost = next(x.body for x in answers if x.status == 409)
    assert lost["error"]["code"] == "slot_full" and lost["error"]["slot_id"] == slot["id"]
    assert won["slot_id"] == slot["id"] and won["slot_place"] == "导管室 2号"
    loser_id = b["id"] if won["id"] == a["id"] else a["id"]
    assert (await desk.get(f"/api/v1/referrals/{loser_id}")).ok()["status"] == "opened"
    listed = (await desk.get("/api/v1/capacity?department=cardiology")).ok()
    mine = next(s for s in listed["slots"] if s["id"] == slot["id"])
    assert mine["booked"] == 1 and mine["capacity"] == 1
    assert not any(
        s["id"] == slot["id"]
        for s in (await desk.get("/api/v1/capacity?available=true")).ok()["slots"]
    )
    heard = await village_events.next("referral.accepted")
    assert heard["referral_id"] == won["id"] and heard["slot_id"] == slot["id"]
    # the clinic's title is in local time, for people
    local = dt.datetime.fromisoformat(slot["starts_at"]).astimezone(SHANGHAI)
    assert f"{local.month}月{local.day}日 {local:%H:%M}" in heard["title"]

    # cancelling the winner frees the place; the other referral takes it
    (await desk.post(f"/api/v1/referrals/{won['id']}/cancel", {"reason": "患者转上级医院"})).ok()
    assert (await cardio_events.next("referral.cancelled"))["referral_id"] == won["id"]
    async with api.center.sessions() as session:
        assert (await session.get(CapacitySlot, slot["id"])).booked == 0  # type: ignore[union-attr]
    (await desk.post(f"/api/v1/referrals/{loser_id}/accept", {"slot_id": slot["id"]})).ok()
    # the department hears the desk's booking of its place (the race's was before the cancel)
    assert (await cardio_events.next("referral.accepted"))["referral_id"] == loser_id
    await village_events.close()
    await cardio_events.close()


async def test_one_referral_accepted_twice_at_once_books_one_place(api: Api) -> None:
    reader = await api.login("ecg-reader")
    cardio = await api.login("cardio-desk")
    desk = await api.login("referral-desk")
    first, second = await publish(cardio, capacity=3), await publish(cardio, capacity=3)
    ref = (await refer(reader, (await signed_ecg_report(api))["id"])).ok()
    answers = await asyncio.gather(
        cardio.post(f"/api/v1/referrals/{ref['id']}/accept", {"slot_id": first["id"]}),
        desk.post(f"/api/v1/referrals/{ref['id']}/accept", {"slot_id": second["id"]}),
    )
    assert sorted(x.status for x in answers) == [200, 409], answers
    assert next(x for x in answers if x.status == 409).body["error"]["code"] == (
        "invalid_transition"
    )
    async with api.center.sessions() as session:
        booked = await session.scalar(
            select(func.sum(CapacitySlot.booked)).where(
                CapacitySlot.id.in_([first["id"], second["id"]])
            )
        )
    assert booked == 1
    # two cancellations at once release the place once
    cancels = await asyncio.gather(
        cardio.post(f"/api/v1/referrals/{ref['id']}/cancel", {"reason": "a"}),
        desk.post(f"/api/v1/referrals/{ref['id']}/cancel", {"reason": "b"}),
    )
    assert sorted(x.status for x in cancels) == [200, 409]
    async with api.center.sessions() as session:
        booked = await session.scalar(
            select(func.sum(CapacitySlot.booked)).where(
                CapacitySlot.id.in_([first["id"], second["id"]])
            )
        )
    assert booked == 0


async def test_capacity_is_published_in_local_time_and_listed(api: Api) -> None:
    cardio = await api.login("cardio-desk")
    er = await api.login("er-desk")
    village = await api.login("dr-village")
    tomorrow = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=2)).date()
    naive = {"starts_at": f"{tomorrow}T08:00", "ends_at": f"{tomorrow}T12:00"}
    slot = await publish(cardio, capacity=2, kind="clinic_session", place="3诊室", **naive)
    starts = dt.datetime.fromisoformat(slot["starts_at"])
    assert starts == dt.datetime.combine(tomorrow, dt.time(8), SHANGHAI)
    assert starts.utcoffset() == dt.timedelta(0)  # sent back in UTC
    listed = (await er.get("/api/v1/capacity?department=cardiology")).ok()
    assert listed["timezone"] == "Asia/Shanghai"
    assert slot["id"] in [s["id"] for s in listed["slots"]]
    assert all(s["department_id"] == slot["department_id"] for s in listed["slots"])
    demo_kinds = {s["kind"] for s in listed["slots"]}
    assert {"cath_lab", "ward_bed"} <= demo_kinds  # the demo's week of capacity

    # each department publishes its own; clinics do not see capacity; bad input is a 422
    refused = await er.post(
        "/api/v1/capacity",
        {"department": "cardiology", "kind": "cath_lab", "place": "x", "capacity": 1, **naive},
    )
    assert refused.status == 403
    assert (await village.get("/api/v1/capacity")).status == 403
    for bad in (
        {"ends_at": f"{tomorrow}T07:00"},
        {"capacity": 0},
        {"kind": "helipad"},
        {"starts_at": "2020-01-01T08:00", "ends_at": "2020-01-01T09:00"},
    ):
        body = {
            "department": "cardiology",
            "kind": "cath_lab",
            "place": "x",
            "capacity": 1,
            **naive,
            **bad,
        }
        answer = await cardio.post("/api/v1/capacity", body)
        assert answer.status == 422, (bad, answer.body)

    # a slot nobody booked can be withdrawn; a booked one cannot
    assert (await cardio.post(f"/api/v1/capacity/{slot['id']}/withdraw")).status == 204
    reader = await api.login("ecg-reader")
    booked = await publish(cardio, capacity=1)
    ref = (await refer(reader, (await signed_ecg_report(api))["id"])).ok()
    (await cardio.post(f"/api/v1/referrals/{ref['id']}/accept", {"slot_id": booked["id"]})).ok()
    withdrawn = await cardio.post(f"/api/v1/capacity/{booked['id']}/withdraw")
    assert withdrawn.status == 409 and withdrawn.body["error"]["code"] == "slot_booked"


async def test_department_sees_its_incoming_referrals_and_the_report(api: Api) -> None:
    reader = await api.login("ecg-reader")
    cardio = await api.login("cardio-desk")
    er = await api.login("er-desk")
    desk = await api.login("referral-desk")
    township = await api.login("dr-township")  # Xihe: not dr-village's township
    village = await api.login("dr-village")
    report = await signed_ecg_report(api)
    ref = (await refer(reader, report["id"])).ok()

    assert [r["id"] for r in (await cardio.get("/api/v1/referrals")).ok()] == [ref["id"]]
    assert (await cardio.get("/api/v1/referrals?open=true")).ok()[0]["id"] == ref["id"]
    for user in (cardio, desk, village):
        behind = (await user.get(f"/api/v1/referrals/{ref['id']}/report")).ok()
        assert behind["id"] == report["id"] and behind["impression"] == "急性前壁心肌梗死"

    # another department, another township's clinic: nothing, and the door answers 404
    for user in (er, township):
        assert ref["id"] not in [r["id"] for r in (await user.get("/api/v1/referrals")).ok()]
        assert (await user.get(f"/api/v1/referrals/{ref['id']}")).status == 404
        assert (await user.get(f"/api/v1/referrals/{ref['id']}/report")).status == 404
    slot = await publish(cardio)
    refused = await er.post(f"/api/v1/referrals/{ref['id']}/accept", {"slot_id": slot["id"]})
    assert refused.status == 404
    assert (
        await township.post(f"/api/v1/referrals/{ref['id']}/accept", {"slot_id": 1})
    ).status == 403

    # a slot of another department cannot take the referral
    er_slot = (
        await er.post(
            "/api/v1/capacity",
            {
                "department": "emergency",
                "kind": "icu_bed",
                "place": "抢救室",
                "starts_at": slot["starts_at"],
                "ends_at": slot["ends_at"],
                "capacity": 1,
            },
        )
    ).ok()
    wrong = await cardio.post(f"/api/v1/referrals/{ref['id']}/accept", {"slot_id": er_slot["id"]})
    assert wrong.status == 422
    (await cardio.post(f"/api/v1/referrals/{ref['id']}/accept", {"slot_id": slot["id"]})).ok()
    seen = (await village.get("/api/v1/referrals")).ok()
    assert seen[0]["id"] == ref["id"] and seen[0]["slot_id"] == slot["id"]
