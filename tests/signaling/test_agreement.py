"""PROTOCOL.md and the real room server agree: error ``ref``, error texts, what is relayed, the
room after ``end``, the ``join`` timeout, and ``bye`` ``shutdown``."""

from __future__ import annotations

import dataclasses
import json

import pytest

from signaling import WsTimeouts
from signaling import protocol as p
from signaling.client import RoomClient

from .conftest import RoomServer


async def joined(rooms: RoomServer, token: str) -> RoomClient:
    client = rooms.client(token)
    await client.open()
    assert isinstance(await client.join(), p.Joined)
    return client


async def until(client: RoomClient, cls: type[p.Message]) -> list[p.Message]:
    """Every message up to and including the next ``cls`` (the server keeps their order)."""
    seen: list[p.Message] = []
    while not isinstance(seen[-1] if seen else None, cls):
        seen.append(await client.expect(p.Message))
    return seen


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ('{"type": "chat"}', "chat"),
        ('{"type": "chat", "text": 5}', "chat"),
        ('{"type": "mute", "audio_muted": 1, "video_muted": false}', "mute"),
        ('{"type": "co_view", "action": "zoom", "resource": "ecg/1"}', "co_view"),
        ('{"type": "offer", "sdp": "not sdp"}', "offer"),
        ('{"type": "join", "colour": "red"}', "join"),
        ('{"type": "teleport"}', None),
        ('{"text": "no type"}', None),
        ("[1, 2]", None),
        ("not json", None),
    ],
)
async def test_error_ref_names_the_message_whenever_the_frame_names_one(
    rooms: RoomServer, text: str, ref: str | None
) -> None:
    doctor = rooms.client("tok-doctor")
    await doctor.open()
    await doctor.send_raw(text)
    assert (await doctor.expect(p.Error)).ref == ref


def _without_required_fields() -> list[tuple[str, str]]:
    cases = []
    for cls in p.CLIENT_MESSAGES:
        for f in dataclasses.fields(cls):
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                cases.append((cls.type, f.name))
    return cases


@pytest.mark.parametrize(("kind", "field"), _without_required_fields())
async def test_error_texts_name_the_field_never_a_python_signature(
    rooms: RoomServer, kind: str, field: str
) -> None:
    doctor = rooms.client("tok-doctor")
    await doctor.open()
    await doctor.send_raw(json.dumps({"type": kind}))
    error = await doctor.expect(p.Error)
    assert error.code is p.ErrorCode.MALFORMED
    assert field in error.message and error.message.startswith(f"{kind}: ")
    for leak in ("__init__", "positional", "argument", "NoneType", "Traceback"):
        assert leak not in error.message


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"type": "mute", "audio_muted": True, "video_muted": "no"}, "video_muted must be bool"),
        ({"type": "co_view", "action": 3, "resource": "r"}, "action must be one of open"),
        (
            {"type": "co_view", "action": "open", "resource": "r", "params": [{"name": "x"}]},
            "missing field value",
        ),
        ({"type": "candidate", "candidate": "", "sdp_mline_index": -1}, "sdp_mline_index"),
        ({"type": "chat", "text": "hi", "participant_id": 7}, "participant_id must be str"),
    ],
)
async def test_bad_values_are_named(rooms: RoomServer, body: dict[str, object], names: str) -> None:
    doctor = rooms.client("tok-doctor")
    await doctor.open()
    await doctor.send_raw(json.dumps(body))
    assert names in (await doctor.expect(p.Error)).message


async def test_mute_audio_only_and_raise_hand_reach_the_others_in_the_roster_only(
    rooms: RoomServer,
) -> None:
    doctor = await joined(rooms, "tok-doctor")
    specialist = await joined(rooms, "tok-specialist")
    await specialist.send(p.Chat(text="in"))
    await until(doctor, p.Chat)  # the rosters of both arrivals are behind us
    await specialist.send(p.Mute(audio_muted=True, video_muted=False))
    await specialist.send(p.RaiseHand(raised=True))
    await specialist.send(p.AudioOnly(enabled=True))
    await specialist.send(p.Chat(text="done"))  # a marker: it comes after all of the above
    seen = await until(doctor, p.Chat)
    assert not [m for m in seen if isinstance(m, p.Mute | p.RaiseHand | p.AudioOnly)]
    rosters = [m for m in seen if isinstance(m, p.Roster)]
    assert len(rosters) == 3
    (me,) = [i for i in rosters[-1].participants if i.participant_id == "specialist"]
    assert (me.audio_muted, me.video_muted, me.hand_raised, me.audio_only) == (
        True,
        False,
        True,
        True,
    )


async def test_after_end_a_join_is_refused_until_the_host_opens_the_next_room(
    rooms: RoomServer,
) -> None:
    doctor = await joined(rooms, "tok-doctor")
    specialist = await joined(rooms, "tok-specialist")
    await doctor.send(p.End())
    assert (await specialist.expect(p.Bye)).reason is p.ByeReason.ENDED
    assert (await doctor.expect(p.Bye)).reason is p.ByeReason.ENDED

    for token in ("tok-specialist", "tok-patient"):
        late = rooms.client(token)
        await late.open()
        refused = await late.join()
        assert isinstance(refused, p.Error)
        assert (refused.code, refused.ref) == (p.ErrorCode.ROOM_ENDED, "join")
        assert (await late.expect(p.Bye)).reason is p.ByeReason.ENDED
        await late.closed.wait()  # the server closed the socket

    host = await joined(rooms, "tok-doctor")  # the consult's next room
    assert isinstance(await joined(rooms, "tok-specialist"), RoomClient)
    guest = rooms.client("tok-patient")
    await guest.open()
    assert isinstance(await guest.join(), p.Lobby)
    await host.send(p.Chat(text="second session"))
    assert (await host.expect(p.Chat)).text == "second session"


async def test_a_room_that_ended_by_itself_is_not_refused(rooms: RoomServer) -> None:
    await joined(rooms, "tok-doctor")
    await rooms.registry.end_room("consult-42", "empty for too long")
    assert isinstance(await joined(rooms, "tok-specialist"), RoomClient)


@pytest.mark.parametrize("ws_timeouts", [WsTimeouts(join=0.3)])
async def test_no_join_in_time_is_out_of_order_then_bye_timeout(rooms: RoomServer) -> None:
    silent = rooms.client("tok-nurse")
    await silent.open()
    error = await silent.expect(p.Error)
    assert (error.code, error.ref, error.message) == (
        p.ErrorCode.OUT_OF_ORDER,
        None,
        "no join message in time",
    )
    assert (await silent.expect(p.Bye)).reason is p.ByeReason.TIMEOUT
    await silent.closed.wait()


async def test_shutdown_says_bye_shutdown_to_everyone(rooms: RoomServer) -> None:
    doctor = await joined(rooms, "tok-doctor")
    patient = rooms.client("tok-patient")
    await patient.open()
    assert isinstance(await patient.join(), p.Lobby)
    nurse = rooms.client("tok-nurse")
    await nurse.open()  # connected, never joined
    await rooms.registry.close()
    await rooms.sockets.close_all()
    for client in (doctor, patient, nurse):
        assert (await client.expect(p.Bye)).reason is p.ByeReason.SHUTDOWN
        await client.closed.wait()
    assert len(rooms.sockets) == 0
    assert ("ended", "consult-42") in rooms.events.seen
