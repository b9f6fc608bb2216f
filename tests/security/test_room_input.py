"""Issue 19.13: a room frame the server could not store or relay is a protocol error, not internal."""

from __future__ import annotations

import pytest

from signaling import protocol as p
from signaling.client import RoomClient
from tests.conftest import Api
from tests.core.helpers import new_patient


async def _room(api: Api) -> tuple[RoomClient, RoomClient]:
    village = await api.login("dr-village")
    internist = await api.login("internist")
    patient = await new_patient(village, "聊天")
    body = {"patient_id": patient["id"], "kind": "video_consult", "clinical_question": "胸闷"}
    request = (await village.post("/api/v1/requests", body)).ok()
    (await internist.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    url = str(api.client.make_url(f"/api/v1/rooms/{request['id']}/ws"))
    return RoomClient(api.client.session, url, village.token), RoomClient(
        api.client.session, url, internist.token
    )


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        ('{"type":"chat","text":"\\ud800"}', "lone surrogates"),
        ('{"type":"chat","text":"a\\u0000b"}', "NUL"),
        ('{"type":"chat","text":' + "[" * 30_000 + "]" * 30_000 + "}", "nested"),
    ],
)
async def test_unrelayable_chat_is_a_malformed_error(api: Api, frame: str, why: str) -> None:
    host, member = await _room(api)
    try:
        await host.open()
        await member.open()
        assert isinstance(await host.join("刘医生"), p.Joined)
        assert isinstance(await member.join("周医生"), p.Joined)
        await host.send_raw(frame)
        error = await host.expect(p.Error, within=5)
        assert error.code is p.ErrorCode.MALFORMED
        assert why in error.message
        # the room keeps serving both sides
        await host.send(p.Chat(text="还在吗"))
        assert (await member.expect(p.Chat, within=5)).text == "还在吗"
    finally:
        await host.close()
        await member.close()
