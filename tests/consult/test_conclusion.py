"""The consult opinion: written with or without a video call, signed, delivered to the clinic."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, ApiUser
from tests.consult.helpers import PLAN_FOLLOW_UP, clinic_request
from tests.core.helpers import Events
from tests.rooms.test_consult_room import client

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


async def _conclude(internist: ApiUser, request_id: int, plan: dict[str, Any]) -> dict[str, Any]:
    draft = (
        await internist.post(
            f"/api/v1/requests/{request_id}/reports",
            {
                "findings": "血压 150/95 mmHg, 心电图窦性心律",
                "impression": "高血压2级, 建议规律服药",
                "data": {"plan": plan},
            },
        )
    ).ok()
    assert draft["status"] == "draft"
    return (await internist.post(f"/api/v1/reports/{draft['id']}/sign")).ok()  # type: ignore[no-any-return]


async def test_written_conclusion_reaches_the_clinic_and_completes(api: Api) -> None:
    village, request = await clinic_request(api, "video_consult")
    internist = await api.login("internist")
    events = await Events.open(village)
    try:
        (await internist.post(f"/api/v1/requests/{request['id']}/accept")).ok()
        signed = await _conclude(internist, request["id"], PLAN_FOLLOW_UP)
        event = await events.next("report.signed")
    finally:
        await events.close()
    assert signed["status"] == "final" and len(signed["content_hash"]) == 64
    assert signed["data"]["plan"] == PLAN_FOLLOW_UP
    assert signed["data"]["conducted"] == "written"
    assert event["report_id"] == signed["id"] and event["request_id"] == request["id"]
    inbox = (await village.get("/api/v1/inbox")).ok()
    mine = [d for d in inbox if d["report"]["id"] == signed["id"]]
    assert mine and mine[0]["kind"] == "video_consult" and mine[0]["read_at"] is None
    assert mine[0]["report"]["impression"].startswith("高血压2级")
    done = (await village.get(f"/api/v1/requests/{request['id']}")).ok()
    assert done["status"] == "completed" and done["completed_at"]
    again = await internist.post(
        f"/api/v1/requests/{request['id']}/reports", {"findings": "x", "data": {}}
    )
    assert again.status == 409


async def test_conclusion_after_a_room(api: Api) -> None:
    village, request = await clinic_request(api, "video_consult")
    internist = await api.login("internist")
    (await internist.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    host, member = (
        client(api, request["id"], village.token),
        client(api, request["id"], internist.token),
    )
    try:
        await host.open(header=False)
        await member.open()
        await host.join("刘医生")
        await member.join("周医生")
    finally:
        await host.close()
        await member.close()
    plan = {"kind": "refer", "department": "cardiology", "instructions": "尽快转心内科"}
    signed = await _conclude(internist, request["id"], plan)
    assert signed["data"]["conducted"] == "video"
    assert signed["data"]["plan"] == plan
    assert (await village.get(f"/api/v1/requests/{request['id']}")).ok()["status"] == "completed"


async def test_a_consult_opinion_needs_a_valid_plan(api: Api) -> None:
    _, request = await clinic_request(api, "video_consult")
    internist = await api.login("internist")
    url = f"/api/v1/requests/{request['id']}/reports"
    bad = await internist.post(url, {"findings": "x", "data": {"plan": {"kind": "pray"}}})
    assert bad.status == 422 and bad.body["error"]["field"] == "data.plan.kind"
    no_date = await internist.post(url, {"findings": "x", "data": {"plan": {"kind": "follow_up"}}})
    assert no_date.status == 422 and no_date.body["error"]["field"] == "data.plan.follow_up_on"
    draft = (await internist.post(url, {"findings": "仅有所见", "data": {}})).ok()
    unsigned = await internist.post(f"/api/v1/reports/{draft['id']}/sign")
    assert unsigned.status == 422 and unsigned.body["error"]["field"] == "data.plan"
    local = {"kind": "treat_locally", "instructions": ""}
    (await internist.patch(f"/api/v1/reports/{draft['id']}", {"data": {"plan": local}})).ok()
    empty = await internist.post(f"/api/v1/reports/{draft['id']}/sign")
    assert empty.status == 422 and empty.body["error"]["field"] == "data.plan.instructions"
    local["instructions"] = "继续口服降压药, 每日测血压"
    (await internist.patch(f"/api/v1/reports/{draft['id']}", {"data": {"plan": local}})).ok()
    signed = (await internist.post(f"/api/v1/reports/{draft['id']}/sign")).ok()
    assert signed["data"]["plan"]["kind"] == "treat_locally"
