"""One specialist owns a request: only the assignee writes and signs; reassignment; holds."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Api
from tests.consult.helpers import PLAN_FOLLOW_UP, clinic_request, specialists
from tests.core.helpers import Events

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


def _data(kind: str) -> dict[str, object]:
    return {"plan": PLAN_FOLLOW_UP} if kind == "video_consult" else {}


@pytest.mark.parametrize("kind", ["ecg_read", "imaging_read", "video_consult"])
async def test_a_second_specialist_cannot_draft_or_sign(api: Api, kind: str) -> None:
    _, request = await clinic_request(api, kind)
    owner, other = await specialists(api, kind)
    rid = request["id"]
    (await owner.post(f"/api/v1/requests/{rid}/accept")).ok()
    body = {"findings": "所见", "impression": "意见", "data": _data(kind)}
    taken = await other.post(f"/api/v1/requests/{rid}/reports", body)
    assert taken.status == 403 and taken.body["error"]["code"] == "not_assignee"
    draft = (await owner.post(f"/api/v1/requests/{rid}/reports", body)).ok()
    for method, path, payload in (
        ("PATCH", f"/api/v1/reports/{draft['id']}", {"findings": "改写"}),
        ("POST", f"/api/v1/reports/{draft['id']}/sign", {}),
        ("POST", f"/api/v1/requests/{rid}/start", {}),
        ("POST", f"/api/v1/requests/{rid}/hold", {"question": "?"}),
    ):
        refused = await other.call(method, path, json=payload)
        assert refused.status == 403, (path, refused.body)
        assert refused.body["error"]["code"] == "not_assignee"
    signed = (await owner.post(f"/api/v1/reports/{draft['id']}/sign")).ok()
    amend = {"reason": "补充", "findings": "所见2", "impression": "意见2", "data": _data(kind)}
    refused = await other.post(f"/api/v1/reports/{signed['id']}/amend", amend)
    assert refused.status == 403 and refused.body["error"]["code"] == "not_assignee"
    (await owner.post(f"/api/v1/reports/{signed['id']}/amend", amend)).ok()
    auditor = await api.login("auditor")
    denied = (await auditor.get("/api/v1/audit?action=report.draft")).ok()
    assert any(r["outcome"] == "denied" and r["actor_id"] == other.me["id"] for r in denied)


async def test_reassignment_by_the_assignee_and_the_head(api: Api) -> None:
    _, request = await clinic_request(api, "ecg_read")
    reader, reader2 = await api.login("ecg-reader"), await api.login("ecg-reader2")
    head, internist = await api.login("ecg-head"), await api.login("internist")
    assert head.me["department_head"] is True and reader.me["department_head"] is False
    rid = request["id"]
    url = f"/api/v1/requests/{rid}/reassign"
    early = await reader.post(url, {"to_user_id": reader2.me["id"], "reason": "换人"})
    assert early.status == 409  # nothing to hand over before accept
    (await reader.post(f"/api/v1/requests/{rid}/accept")).ok()
    grab = await reader2.post(url, {"to_user_id": reader2.me["id"], "reason": "我来"})
    assert grab.status == 403 and grab.body["error"]["code"] == "not_assignee"
    outsider = await internist.post(url, {"to_user_id": internist.me["id"], "reason": "x"})
    assert outsider.status in (403, 404)  # not even visible to another kind
    wrong_kind = await reader.post(url, {"to_user_id": internist.me["id"], "reason": "x"})
    assert wrong_kind.status == 422 and wrong_kind.body["error"]["field"] == "to_user_id"
    events = await Events.open(reader2)
    try:
        moved = (await reader.post(url, {"to_user_id": reader2.me["id"], "reason": "下班"})).ok()
        assert (await events.next("request.reassigned"))["request_id"] == rid
    finally:
        await events.close()
    assert moved["performer_id"] == reader2.me["id"]
    now_refused = await reader.post(f"/api/v1/requests/{rid}/reports", {"findings": "x"})
    assert now_refused.status == 403
    (await reader2.post(f"/api/v1/requests/{rid}/reports", {"findings": "窦性心律"})).ok()
    back = (await head.post(url, {"to_user_id": reader.me["id"], "reason": "科室调配"})).ok()
    assert back["performer_id"] == reader.me["id"]
    picks = (await reader.get(f"/api/v1/requests/{rid}/colleagues")).ok()
    assert {reader.me["id"], reader2.me["id"], head.me["id"]} <= {p["id"] for p in picks}
    auditor = await api.login("auditor")
    rows = (await auditor.get("/api/v1/audit?action=request.reassign")).ok()
    mine = [r for r in rows if r["object_id"] == str(rid) and "to_user" in r["detail"]]
    assert sorted((r["detail"]["to_user"], r["detail"]["by_head"]) for r in mine) == sorted(
        [(reader2.me["id"], False), (reader.me["id"], True)]
    )
    assert any(
        r["outcome"] == "denied" and r["actor_id"] == reader2.me["id"]
        for r in rows
        if r["object_id"] == str(rid)
    )


async def test_hold_answer_resume(api: Api) -> None:
    village, request = await clinic_request(api, "ecg_read")
    reader = await api.login("ecg-reader")
    rid = request["id"]
    (await reader.post(f"/api/v1/requests/{rid}/accept")).ok()
    clinic_events = await Events.open(village)
    try:
        asked = (
            await reader.post(f"/api/v1/requests/{rid}/hold", {"question": "有无既往心梗病史?"})
        ).ok()
        event = await clinic_events.next("request.on_hold")
    finally:
        await clinic_events.close()
    assert event["request_id"] == rid and "既往心梗" in event["title"]
    assert asked["resume_status"] == "accepted" and asked["answered_at"] is None
    held = (await village.get(f"/api/v1/requests/{rid}")).ok()
    assert held["status"] == "on_hold"
    blocked = await reader.post(f"/api/v1/requests/{rid}/reports", {"findings": "x"})
    assert blocked.status == 409 and blocked.body["error"]["code"] == "on_hold"
    refused = await reader.post(f"/api/v1/requests/{rid}/answer", {"answer": "我自己答"})
    assert refused.status == 403
    reader_events = await Events.open(reader)
    try:
        answered = (
            await village.post(f"/api/v1/requests/{rid}/answer", {"answer": "2019年下壁心梗"})
        ).ok()
        assert (await reader_events.next("request.resumed"))["request_id"] == rid
    finally:
        await reader_events.close()
    assert answered["answer"] == "2019年下壁心梗" and answered["answerer_name"]
    assert (await village.get(f"/api/v1/requests/{rid}")).ok()["status"] == "accepted"
    twice = await village.post(f"/api/v1/requests/{rid}/answer", {"answer": "again"})
    assert twice.status == 409 and twice.body["error"]["code"] == "not_on_hold"
    holds = (await reader.get(f"/api/v1/requests/{rid}/holds")).ok()
    assert [(h["question"], h["answer"]) for h in holds] == [
        ("有无既往心梗病史?", "2019年下壁心梗")
    ]
    (await reader.post(f"/api/v1/requests/{rid}/reports", {"findings": "陈旧性下壁心梗"})).ok()
    again = (await reader.post(f"/api/v1/requests/{rid}/hold", {"question": "近期用药?"})).ok()
    assert again["resume_status"] == "in_progress"


async def test_two_specialists_accepting_at_once(api: Api) -> None:
    _, request = await clinic_request(api, "ecg_read")
    reader, reader2 = await api.login("ecg-reader"), await api.login("ecg-reader2")
    url = f"/api/v1/requests/{request['id']}/accept"
    for _ in range(3):  # warm both connections so that the two calls really overlap
        await reader.get(f"/api/v1/requests/{request['id']}")
        await reader2.get(f"/api/v1/requests/{request['id']}")
    results = await asyncio.gather(reader.post(url), reader2.post(url))
    statuses = sorted(r.status for r in results)
    assert statuses == [200, 409], [r.body for r in results]
    loser = next(r for r in results if r.status == 409)
    assert loser.body["error"]["code"] == "request_taken"
    winner = next(r for r in results if r.status == 200).body
    final = (await reader.get(f"/api/v1/requests/{request['id']}")).ok()
    assert final["performer_id"] == winner["performer_id"] and final["status"] == "accepted"


async def test_the_guarded_accept_when_both_have_read(api: Api) -> None:
    """Both units of work have read the request as ``requested``; the second claim loses."""
    from sqlalchemy import select

    from consult import requests as requests_
    from consult.errors import Conflict
    from consult.models import User
    from consult.principal import principal_for

    _, request = await clinic_request(api, "ecg_read")
    center = api.center
    async with center.work() as work:
        users = {
            u.username: await principal_for(work.session, u)
            for u in await work.session.scalars(
                select(User).where(User.username.in_(["ecg-reader", "ecg-reader2"]))
            )
        }
    read_a, read_b, a_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with center.work(users["ecg-reader"]) as a:
            row = await requests_.get(a, request["id"])
            read_a.set()
            await read_b.wait()
            await requests_.claim(a, row)
        a_done.set()

    async def second() -> str:
        async with center.work(users["ecg-reader2"]) as b:
            row = await requests_.get(b, request["id"])
            assert row.status == "requested"
            read_b.set()
            await a_done.wait()
            try:
                await requests_.claim(b, row)
            except Conflict as exc:
                return exc.code
        return "won"

    results = await asyncio.gather(first(), second())
    assert results[1] == "request_taken"


async def test_two_answers_at_once_resume_once(api: Api) -> None:
    village, request = await clinic_request(api, "ecg_read")
    reader = await api.login("ecg-reader")
    rid = request["id"]
    (await reader.post(f"/api/v1/requests/{rid}/accept")).ok()
    (await reader.post(f"/api/v1/requests/{rid}/hold", {"question": "年龄?"})).ok()
    url = f"/api/v1/requests/{rid}/answer"
    results = await asyncio.gather(
        village.post(url, {"answer": "六十八岁"}), village.post(url, {"answer": "68岁"})
    )
    assert sorted(r.status for r in results) == [200, 409], [r.body for r in results]
    assert next(r for r in results if r.status == 409).body["error"]["code"] == "not_on_hold"
    holds = (await reader.get(f"/api/v1/requests/{rid}/holds")).ok()
    winner = next(r for r in results if r.status == 200).body
    assert [h["answer"] for h in holds] == [winner["answer"]]
    assert (await reader.get(f"/api/v1/requests/{rid}")).ok()["status"] == "accepted"
