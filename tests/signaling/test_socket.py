"""The WebSocket door without media: authentication, malformed and untimely messages."""

from __future__ import annotations

import aiohttp
import pytest

from signaling import protocol as p

from .conftest import RoomServer


async def test_wrong_token_is_refused(rooms: RoomServer) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await rooms.http.ws_connect(rooms.url(), headers={"Authorization": "Bearer nope"})
    assert refused.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as missing:
        await rooms.http.ws_connect(rooms.url())
    assert missing.value.status == 401


async def test_other_room_is_forbidden(rooms: RoomServer) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await rooms.http.ws_connect(f"{rooms.url('consult-7')}?token=tok-doctor")
    assert refused.value.status == 403


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", p.ErrorCode.MALFORMED),
        ("[1, 2]", p.ErrorCode.MALFORMED),
        ('{"type": "teleport"}', p.ErrorCode.UNKNOWN_TYPE),
        ('{"type": "chat", "text": 5}', p.ErrorCode.MALFORMED),
        ('{"type": "chat", "text": "hi", "extra": 1}', p.ErrorCode.MALFORMED),
        ('{"type": "offer", "sdp": "not sdp"}', p.ErrorCode.MALFORMED),
    ],
)
async def test_malformed_message_is_answered_and_socket_stays_usable(
    rooms: RoomServer, text: str, code: p.ErrorCode
) -> None:
    doctor = rooms.client("tok-doctor")
    await doctor.open()
    await doctor.send_raw(text)
    assert (await doctor.expect(p.Error)).code is code
    assert isinstance(await doctor.join(), p.Joined)


async def test_out_of_order_messages_are_answered(rooms: RoomServer) -> None:
    doctor = rooms.client("tok-doctor")
    await doctor.open()
    await doctor.send(p.Chat(text="before join"))
    assert (await doctor.expect(p.Error)).code is p.ErrorCode.OUT_OF_ORDER
    assert isinstance(await doctor.join(), p.Joined)
    await doctor.send(p.Join())
    assert (await doctor.expect(p.Error)).code is p.ErrorCode.OUT_OF_ORDER
    await doctor.send(p.Candidate(candidate=""))  # no peer connection yet
    assert (await doctor.expect(p.Error)).code is p.ErrorCode.OUT_OF_ORDER
    await doctor.send(p.Connected(setup_ms=1))  # a server message
    assert (await doctor.expect(p.Error)).code is p.ErrorCode.OUT_OF_ORDER
    await doctor.send(p.Admit(participant_id="ghost"))
    assert (await doctor.expect(p.Error)).code is p.ErrorCode.NOT_FOUND
    await doctor.send(p.Chat(text="still here"))
    assert (await doctor.expect(p.Chat)).text == "still here"


async def test_same_user_connecting_again_replaces_the_old_socket(rooms: RoomServer) -> None:
    first = rooms.client("tok-doctor")
    await first.open()
    await first.join()
    second = rooms.client("tok-doctor")
    await second.open()
    assert isinstance(await second.join(), p.Joined)
    assert (await first.expect(p.Bye)).reason is p.ByeReason.REPLACED


async def test_a_late_joiner_sees_what_is_being_co_viewed(rooms: RoomServer) -> None:
    doctor, specialist = rooms.client("tok-doctor"), rooms.client("tok-specialist")
    await doctor.open()
    await specialist.open()
    assert isinstance(await doctor.join(), p.Joined)
    opened = p.CoView(action=p.CoViewAction.OPEN, resource="ecg/7")
    zoom = p.CoView(
        action=p.CoViewAction.PAN_ZOOM, resource="ecg/7", params=(p.CoViewParam("zoom", 2),)
    )
    await doctor.send(opened)
    await doctor.send(zoom)
    await doctor.send(
        p.CoView(
            action=p.CoViewAction.PAN_ZOOM, resource="ecg/7", params=(p.CoViewParam("zoom", 3),)
        )
    )
    await doctor.send(p.Chat(text="shared"))  # handled in order: once echoed, so are the above
    assert (await doctor.expect(p.Chat)).text == "shared"
    assert isinstance(await specialist.join(), p.Joined)
    first = await specialist.expect(p.CoView)
    latest = await specialist.expect(p.CoView)
    assert (first.action, first.resource) == (p.CoViewAction.OPEN, "ecg/7")
    assert latest.action is p.CoViewAction.PAN_ZOOM and latest.params == (p.CoViewParam("zoom", 3),)
    await doctor.send(p.CoView(action=p.CoViewAction.CLOSE, resource="ecg/7"))
    assert (await specialist.expect(p.CoView)).action is p.CoViewAction.CLOSE
    await doctor.close()
    await specialist.close()
