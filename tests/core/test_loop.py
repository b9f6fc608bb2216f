"""The whole loop, as the real users walk it, over HTTP and the events WebSocket."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import Api
from tests.core.helpers import Events, new_patient, new_request, resident_id

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


async def test_ecg_read_loop_with_referral_and_amendment(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    desk = await api.login("referral-desk")
    village_events = await Events.open(village)
    reader_events = await Events.open(reader)
    desk_events = await Events.open(desk)

    # dr-village registers a patient with consent and requests an ECG read
    patient = await new_patient(
        village, "钱七", resident_id=resident_id("19800101", 123), phone="13800000000"
    )
    assert patient["sex"] == "M" and patient["birth_date"] == "1980-01-01"
    request = await new_request(village, patient["id"], "ecg_read", "urgent")
    assert request["status"] == "requested" and request["identifier"].startswith("E")
    received = await reader_events.next("request.received")
    assert received["request_id"] == request["id"]

    # ecg-reader sees it on the worklist, accepts, writes and signs a report
    worklist = (await reader.get("/api/v1/worklist")).ok()
    assert request["id"] in [r["id"] for r in worklist]
    accepted = (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    assert accepted["status"] == "accepted" and accepted["performer_id"] == reader.me["id"]
    assert (await village_events.next("request.accepted"))["request_id"] == request["id"]
    draft = (
        await reader.post(
            f"/api/v1/requests/{request['id']}/reports",
            {
                "findings": "窦性心律, V2-V4 ST段抬高",
                "impression": "急性前壁心肌梗死",
                "data": {"hr": 88},
            },
        )
    ).ok()
    assert draft["status"] == "draft" and draft["version"] == 1
    signed = (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()
    assert (
        signed["status"] == "final"
        and signed["signed_by"] == reader.me["id"]
        and len(signed["content_hash"]) == 64
    )
    completed = (await reader.get(f"/api/v1/requests/{request['id']}")).ok()
    assert completed["status"] == "completed"

    # ... and opens a green referral to cardiology from the report
    referral = (
        await reader.post(
            "/api/v1/referrals",
            {
                "report_id": signed["id"],
                "department": "cardiology",
                "reason": "STEMI, 急诊PCI",
                "urgency": "stat",
            },
        )
    ).ok()
    assert referral["status"] == "opened" and referral["patient_id"] == patient["id"]
    assert (await desk_events.next("referral.opened"))["referral_id"] == referral["id"]

    # referral-desk accepts it into a cath-lab slot the department published
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(microsecond=0)
    slot = (
        await desk.post(
            "/api/v1/capacity",
            {
                "department": "cardiology",
                "kind": "cath_lab",
                "place": "心内科导管室 2号",
                "starts_at": start.isoformat(),
                "ends_at": (start + dt.timedelta(hours=2)).isoformat(),
                "capacity": 1,
            },
        )
    ).ok()
    accepted_ref = (
        await desk.post(f"/api/v1/referrals/{referral['id']}/accept", {"slot_id": slot["id"]})
    ).ok()
    assert accepted_ref["status"] == "accepted" and accepted_ref["slot_place"] == "心内科导管室 2号"

    # dr-village receives the report and the referral over the events WebSocket, marks the report read
    signed_event = await village_events.next("report.signed")
    assert signed_event["report_id"] == signed["id"]
    ref_event = await village_events.next("referral.accepted")
    assert (
        ref_event["referral_id"] == referral["id"] and ref_event["slot_place"] == "心内科导管室 2号"
    )
    inbox = (await village.get("/api/v1/inbox?unread=true")).ok()
    assert [d["report"]["id"] for d in inbox] == [signed["id"]]
    read = (await village.post(f"/api/v1/reports/{signed['id']}/read")).ok()
    assert read["read_by"] == village.me["id"] and read["read_at"]
    assert (await village.get("/api/v1/inbox?unread=true")).ok() == []
    village_refs = (await village.get("/api/v1/referrals")).ok()
    assert village_refs[0]["slot_place"] == "心内科导管室 2号"

    # an amendment keeps the first version
    amended = (
        await reader.post(
            f"/api/v1/reports/{signed['id']}/amend",
            {
                "reason": "导联标注更正",
                "findings": "窦性心律, V1-V4 ST段抬高",
                "impression": "急性前壁心肌梗死",
            },
        )
    ).ok()
    assert (
        amended["version"] == 2
        and amended["supersedes_id"] == signed["id"]
        and amended["status"] == "amended"
    )
    versions = (await village.get(f"/api/v1/requests/{request['id']}/reports")).ok()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["findings"] == "窦性心律, V2-V4 ST段抬高"
    assert versions[0]["content_hash"] == signed["content_hash"]
    assert versions[0]["superseded_by_id"] == amended["id"]
    assert (await village_events.next("report.amended"))["report_id"] == amended["id"]
    again = await reader.post(
        f"/api/v1/reports/{signed['id']}/amend", {"reason": "x", "findings": "y"}
    )
    assert again.status == 409  # only the latest version can be amended

    # the patient arrives, the loop closes with a back-referral to the clinic
    (await desk.post(f"/api/v1/referrals/{referral['id']}/arrive")).ok()
    closed = (
        await desk.post(
            f"/api/v1/referrals/{referral['id']}/close", {"summary": "PCI 术后稳定, 回社区随访"}
        )
    ).ok()
    assert closed["status"] == "closed" and closed["back_referral_summary"].startswith("PCI")
    assert (await village_events.next("referral.back"))["referral_id"] == referral["id"]
    for events in (village_events, reader_events, desk_events):
        await events.close()


async def test_signed_report_is_immutable(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village)
    request = await new_request(village, patient["id"])
    draft = (
        await reader.post(f"/api/v1/requests/{request['id']}/reports", {"findings": "正常心电图"})
    ).ok()
    (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()
    edit = await reader.patch(f"/api/v1/reports/{draft['id']}", {"findings": "改"})
    assert edit.status == 409 and edit.body["error"]["code"] == "conflict"
    resign = await reader.post(f"/api/v1/reports/{draft['id']}/sign")
    assert resign.status == 409


async def test_request_lifecycle_transitions(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village)
    r1 = await new_request(village, patient["id"])
    rejected = (
        await reader.post(f"/api/v1/requests/{r1['id']}/reject", {"reason": "导联脱落, 请重做"})
    ).ok()
    assert rejected["status"] == "rejected" and rejected["status_reason"] == "导联脱落, 请重做"
    assert (await reader.post(f"/api/v1/requests/{r1['id']}/accept")).status == 409
    r2 = await new_request(village, patient["id"])
    cancelled = (
        await village.post(f"/api/v1/requests/{r2['id']}/cancel", {"reason": "患者已转院"})
    ).ok()
    assert cancelled["status"] == "cancelled"
    assert (await reader.post(f"/api/v1/requests/{r2['id']}/accept")).body["error"][
        "code"
    ] == "invalid_transition"
    no_reason = await reader.post(f"/api/v1/requests/{r2['id']}/reject", {"reason": ""})
    assert no_reason.status == 422 and no_reason.body["error"]["field"] == "reason"


async def test_worklist_order_and_deadlines(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village)
    routine = await new_request(village, patient["id"], priority="routine")
    stat = await new_request(village, patient["id"], priority="stat")
    urgent = await new_request(village, patient["id"], priority="urgent")
    created = dt.datetime.fromisoformat(stat["created_at"])
    assert dt.datetime.fromisoformat(stat["due_at"]) - created == dt.timedelta(minutes=10)
    routine_created = dt.datetime.fromisoformat(routine["created_at"])
    assert dt.datetime.fromisoformat(routine["due_at"]) - routine_created == dt.timedelta(
        minutes=120
    )
    order = [r["id"] for r in (await reader.get("/api/v1/worklist")).ok()]
    assert order.index(stat["id"]) < order.index(urgent["id"]) < order.index(routine["id"])


async def test_overdue_requests_are_flagged_and_notified(api: Api) -> None:
    from consult import requests as requests_

    village = await api.login("dr-village")
    patient = await new_patient(village)
    request = await new_request(village, patient["id"], priority="stat")
    events = await Events.open(village)
    center = api.center
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    async with center.work() as work:
        work.now = later
        assert await requests_.flag_overdue(work) >= 1
    event = await events.next("request.overdue")
    assert event["request_id"] == request["id"]
    async with center.work() as work:
        work.now = later
        assert await requests_.flag_overdue(work) == 0  # notified once
    await events.close()
