"""Consult rooms end to end on the real server and database: real aiortc peers on loopback."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiortc.mediastreams import AudioStreamTrack
from sqlalchemy import func, select

from consult.rooms import RoomRecording
from signaling import protocol as p
from signaling.client import RoomClient
from tests.conftest import Api, ApiUser
from tests.core.helpers import new_patient
from tests.signaling.media_sources import SmallVideo

SLOTS = 5


async def consult(api: Api, *, recording: bool = False) -> tuple[ApiUser, ApiUser, dict]:
    village = await api.login("dr-village")
    internist = await api.login("internist")
    patient = await new_patient(village, "视频会诊患者")
    if recording:
        (
            await village.post(f"/api/v1/patients/{patient['id']}/consents", {"scope": "recording"})
        ).ok()
    request = (
        await village.post(
            "/api/v1/requests",
            {
                "patient_id": patient["id"],
                "kind": "video_consult",
                "priority": "urgent",
                "clinical_question": "发热三天",
            },
        )
    ).ok()
    (await internist.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    return village, internist, request


def client(api: Api, request_id: int, token: str) -> RoomClient:
    url = str(api.client.make_url(f"/api/v1/rooms/{request_id}/ws"))
    return RoomClient(api.client.session, url, token)


async def test_doctor_and_specialist_see_each_other(api: Api) -> None:
    village, internist, request = await consult(api)
    info = (await village.get(f"/api/v1/requests/{request['id']}/room")).ok()
    assert info["role"] == "host" and info["ws_path"].endswith(f"/rooms/{request['id']}/ws")
    assert info["ice_servers"] == []  # nothing public; none configured here
    host, member = (
        client(api, request["id"], village.token),
        client(api, request["id"], internist.token),
    )
    try:
        await host.open(header=False)
        await member.open()
        assert isinstance(await host.join("刘医生"), p.Joined)
        assert isinstance(await member.join("周医生"), p.Joined)
        await host.start_media(SLOTS, [SmallVideo(), AudioStreamTrack()])
        await member.start_media(SLOTS, [SmallVideo(), AudioStreamTrack()])
        await host.wait_received(f"user:{internist.me['id']}", "video", 10, within=20)
        await member.wait_received(f"user:{village.me['id']}", "video", 10, within=20)
        await member.wait_received(f"user:{village.me['id']}", "audio", 10, within=20)
    finally:
        await host.close()
        await member.close()
    log = await _room_log(village, request["id"])
    events = [e["event"] for e in log]
    assert "start" in events and events.count("join") >= 2
    auditor = await api.login("auditor")
    joins = (await auditor.get("/api/v1/audit?action=room.join")).ok()
    assert {r["detail"]["role"] for r in joins} >= {"host", "member"}


async def _room_log(
    user: ApiUser, request_id: int, want: str = "join", within: float = 5.0
) -> list[dict]:
    async with asyncio.timeout(within):
        while True:
            log = (
                (await user.get(f"/api/v1/requests/{request_id}"))
                .ok()["details"]
                .get("room_log", [])
            )
            if any(e["event"] == want for e in log):
                return log
            await asyncio.sleep(0.1)


async def test_patient_guest_waits_in_the_lobby_until_admitted(api: Api) -> None:
    village, _, request = await consult(api)
    invitation = (
        await village.post(
            f"/api/v1/requests/{request['id']}/room/invitations", {"guest_name": "患者本人"}
        )
    ).ok()
    assert invitation["url"].startswith(f"/room/{request['id']}?guest=")
    host = client(api, request["id"], village.token)
    guest = client(api, request["id"], invitation["token"])
    try:
        await host.open()
        assert isinstance(await host.join(), p.Joined)
        await guest.open(header=False)
        assert isinstance(await guest.join("患者本人"), p.Lobby)
        waiting: list[p.ParticipantInfo] = []
        while not waiting:  # rosters arrive as people come; the host hears of the knock
            knock = await host.expect(p.Roster, within=5)
            waiting = [x for x in knock.participants if x.display_name == "患者本人"]
        assert waiting[0].role is p.Role.GUEST
        await host.send(p.Admit(participant_id=waiting[0].participant_id))
        assert isinstance(await guest.expect(p.Joined), p.Joined)
    finally:
        await host.close()
        await guest.close()
    # one-time: the same link cannot be used again
    with pytest.raises(aiohttp.WSServerHandshakeError) as used:
        await api.client.session.ws_connect(
            str(api.client.make_url(f"/api/v1/rooms/{request['id']}/ws"))
            + f"?token={invitation['token']}"
        )
    assert used.value.status == 401


async def test_outsiders_are_refused(api: Api) -> None:
    _, _, request = await consult(api)
    url = str(api.client.make_url(f"/api/v1/rooms/{request['id']}/ws"))
    other = await api.login("dr-township")
    for token, status in (
        (other.token, 403),
        ("not-a-token", 401),
        ((await api.login("radiologist")).token, 403),
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await api.client.session.ws_connect(f"{url}?token={token}")
        assert refused.value.status == status
    assert (await other.get(f"/api/v1/requests/{request['id']}/room")).status == 404
    not_consult = await api.login("dr-village")
    patient = await new_patient(not_consult)
    ecg = (
        await not_consult.post(
            "/api/v1/requests", {"patient_id": patient["id"], "kind": "ecg_read"}
        )
    ).ok()
    assert (await not_consult.get(f"/api/v1/requests/{ecg['id']}/room")).status == 422


async def test_recording_with_consent_is_attached_to_the_consult(api: Api) -> None:
    village, internist, request = await consult(api, recording=True)
    assert (await village.get(f"/api/v1/requests/{request['id']}/room")).ok()[
        "recording_allowed"
    ] is True
    host, member = (
        client(api, request["id"], village.token),
        client(api, request["id"], internist.token),
    )
    try:
        await host.open()
        await member.open()
        await host.join()
        await member.join()
        await host.start_media(SLOTS, [SmallVideo(), AudioStreamTrack()])
        await member.start_media(SLOTS, [SmallVideo(), AudioStreamTrack()])
        await member.wait_received(f"user:{village.me['id']}", "video", 30, within=20)
        await host.send(p.End())
        await host.expect(p.Bye)
    finally:
        await host.close()
        await member.close()
    async with asyncio.timeout(15):
        while True:
            async with api.center.sessions() as session:
                count = await session.scalar(
                    select(func.count())
                    .select_from(RoomRecording)
                    .where(RoomRecording.request_id == request["id"])
                )
            if count:
                break
            await asyncio.sleep(0.2)
    await _room_log(village, request["id"], want="recording")
    # the room's end is logged by the room as it closes, the recording by the recorder: either
    # may land first, so each is waited for (the log only grows)
    log = await _room_log(village, request["id"], want="end")
    assert [e for e in log if e["event"] == "recording"]
