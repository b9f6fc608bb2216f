"""Issue 19.10: the events and room sockets end when the sign-in they were opened with ends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from signaling import protocol as p
from signaling.client import RoomClient
from tests.conftest import DEMO_PASSWORD, Api, ApiUser
from tests.core.helpers import new_patient
from web.session_watch import CLOSE_SESSION_ENDED

Revoke = Callable[[Api, ApiUser], Awaitable[None]]


async def fresh_login(api: Api, username: str) -> ApiUser:
    """A new token of ``username`` (``Api.login`` reuses one)."""
    async with api.client.post(
        "/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}
    ) as r:
        body = await r.json()
        assert r.status == 200, body
    return ApiUser(api.client, username, body["token"], body["user"])


async def _logout(api: Api, user: ApiUser) -> None:
    assert (await user.post("/api/v1/auth/logout")).status in (200, 204)


async def _password(api: Api, user: ApiUser) -> None:
    r = await user.post(f"/api/v1/users/{user.me['id']}/password", {"password": DEMO_PASSWORD})
    assert r.status in (200, 204), r.body


async def _disable(api: Api, user: ApiUser) -> None:
    admin = await api.login("admin")
    (await admin.patch(f"/api/v1/users/{user.me['id']}", {"active": False})).ok()


REVOCATIONS = {"logout": _logout, "password": _password, "disable": _disable}


async def _closed(ws: aiohttp.ClientWebSocketResponse, within: float = 5.0) -> int | None:
    async with asyncio.timeout(within):
        async for _ in ws:
            pass
    return ws.close_code


@pytest.mark.parametrize("how", sorted(REVOCATIONS))
async def test_events_socket_closes_when_the_token_ends(api: Api, how: str) -> None:
    user = await fresh_login(api, "dr-village")
    other = await fresh_login(api, "dr-village")  # the same person on another device
    ws = await api.client.ws_connect(f"/api/v1/events?access_token={user.token}")
    kept = await api.client.ws_connect(f"/api/v1/events?access_token={other.token}")
    assert (await ws.receive_json())["type"] == "hello"
    assert (await kept.receive_json())["type"] == "hello"
    await REVOCATIONS[how](api, user)
    assert await _closed(ws) == CLOSE_SESSION_ENDED
    if how == "logout":  # only the token used for the logout ends
        assert not kept.closed
        patient = await new_patient(await api.login("dr-township"), "另一诊所")
        assert patient["id"]  # the server still serves while the kept socket stays open
        assert not kept.closed
    else:  # a password change or a disabled account ends every token
        assert await _closed(kept) == CLOSE_SESSION_ENDED
    await kept.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.client.ws_connect(f"/api/v1/events?access_token={user.token}")
    assert refused.value.status == 401


async def _consult_room(api: Api) -> tuple[ApiUser, ApiUser, int]:
    village = await fresh_login(api, "dr-village")
    internist = await fresh_login(api, "internist")
    patient = await new_patient(village, "会话失效")
    body = {"patient_id": patient["id"], "kind": "video_consult", "clinical_question": "胸闷"}
    request = (await village.post("/api/v1/requests", body)).ok()
    (await internist.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    return village, internist, request["id"]


@pytest.mark.parametrize("how", ["logout", "disable"])
async def test_room_socket_gets_bye_when_the_token_ends(api: Api, how: str) -> None:
    village, internist, room = await _consult_room(api)
    url = str(api.client.make_url(f"/api/v1/rooms/{room}/ws"))
    host = RoomClient(api.client.session, url, village.token)
    member = RoomClient(api.client.session, url, internist.token)
    try:
        await host.open()
        await member.open()
        assert isinstance(await host.join("刘医生"), p.Joined)
        assert isinstance(await member.join("周医生"), p.Joined)
        await REVOCATIONS[how](api, internist)
        bye = await member.expect(p.Bye, within=5)
        assert bye.reason is p.ByeReason.SESSION_ENDED
        async with asyncio.timeout(5):
            await member.closed.wait()
        # the host stays in the room and sees the member gone from the roster
        gone = f"user:{internist.me['id']}"
        async with asyncio.timeout(5):
            while gone in {i.participant_id for i in (await host.expect(p.Roster)).participants}:
                pass
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await RoomClient(api.client.session, url, internist.token).open()
        assert refused.value.status == 401
    finally:
        await host.close()
        await member.close()
