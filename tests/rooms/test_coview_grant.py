"""Co-viewing grants on the real server: what the clinic shares in the consult room is readable
by the room's specialist while the room is open (audited), and not after it closes."""

from __future__ import annotations

import asyncio

import aiohttp

from signaling import protocol as p
from signaling.client import RoomClient
from tests.conftest import Api, ApiUser
from tests.core.helpers import new_patient
from tests.ecg_center.files import normal_zip


def client(api: Api, request_id: int, token: str) -> RoomClient:
    url = str(api.client.make_url(f"/api/v1/rooms/{request_id}/ws"))
    return RoomClient(api.client.session, url, token)


async def _upload_ecg(user: ApiUser, patient_id: int) -> int:
    form = aiohttp.FormData()
    form.add_field("patient_id", str(patient_id))
    form.add_field("file", normal_zip(seed=3), filename="ecg.zip")
    async with user.client.post("/api/v1/ecgs", data=form, headers=user.headers) as r:
        body = await r.json()
        assert r.status == 201, body
        return int(body["ecg"]["id"])


async def _status_within(user: ApiUser, path: str, wanted: int, within: float = 5.0) -> int:
    status = 0
    for _ in range(int(within / 0.1)):
        status = (await user.get(path)).status
        if status == wanted:
            break
        await asyncio.sleep(0.1)
    return status


async def test_shared_ecg_readable_in_the_room_and_not_after(api: Api) -> None:
    village = await api.login("dr-village")
    internist = await api.login("internist")
    patient = await new_patient(village, "共同阅图患者")
    ecg_id = await _upload_ecg(village, patient["id"])
    consult = (
        await village.post(
            "/api/v1/requests",
            {"patient_id": patient["id"], "kind": "video_consult", "clinical_question": "心悸"},
        )
    ).ok()
    samples = f"/api/v1/ecgs/{ecg_id}/samples"
    # the specialist joins the consult (not yet its performer): the ECG is not theirs to read
    assert (await internist.get(samples)).status == 404
    host = client(api, consult["id"], village.token)
    member = client(api, consult["id"], internist.token)
    try:
        await host.open(header=False)
        await member.open()
        assert isinstance(await host.join("刘医生"), p.Joined)
        assert isinstance(await member.join("周医生"), p.Joined)
        # a resource the sharer may not read grants nothing
        await member.send(p.CoView(action=p.CoViewAction.OPEN, resource="ecg/999999"))
        await host.expect(p.CoView)
        await host.send(p.CoView(action=p.CoViewAction.OPEN, resource=f"ecg/{ecg_id}"))
        shared = await member.expect(p.CoView)
        assert shared.resource == f"ecg/{ecg_id}"
        # granted before the open reached the member: readable at once
        got = await internist.get(samples)
        assert (
            got.status == 200 and got.body and (await internist.get(f"/api/v1/ecgs/{ecg_id}")).ok()
        )
        # another specialist, outside the room, still does not see it
        reader = await api.login("radiologist")
        assert (await reader.get(samples)).status == 404
        await host.send(p.End())
        await member.expect(p.Bye)
    finally:
        await host.close()
        await member.close()
    assert await _status_within(internist, samples, 404) == 404
    auditor = await api.login("auditor")
    shares = (await auditor.get("/api/v1/audit?action=room.share")).ok()
    actions = [a["action"] for a in shares]
    assert "room.share" in actions and "room.share.end" in actions
    granted = (await auditor.get("/api/v1/audit?action=ecg.samples")).ok()
    assert any(
        a["actor"] == "internist" and a["detail"].get("via") == f"room:{consult['id']}"
        for a in granted
    )
