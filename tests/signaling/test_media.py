"""Real aiortc peers on loopback, through the real WebSocket handler and the SFU."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack

from signaling import protocol as p
from signaling.client import RoomClient
from signaling.peer import rtc_configuration
from tests.conftest import eventually

from .conftest import SLOTS, RoomServer
from .media_sources import SmallVideo


async def joined(rooms: RoomServer, token: str) -> RoomClient:
    client = rooms.client(token)
    await client.open()
    reply = await client.join()
    assert isinstance(reply, p.Joined), reply
    return client


async def with_media(client: RoomClient) -> RoomClient:
    await client.start_media(SLOTS, [AudioStreamTrack(), SmallVideo()])
    await client.expect(p.Connected)
    return client


async def test_two_participants_exchange_audio_and_video(rooms: RoomServer) -> None:
    doctor = await with_media(await joined(rooms, "tok-doctor"))
    specialist = await with_media(await joined(rooms, "tok-specialist"))

    for me, other in ((doctor, "specialist"), (specialist, "doctor")):
        assert await me.wait_received(other, "video", 10) >= 10
        assert await me.wait_received(other, "audio", 10) >= 10
    assert rooms.sfu().stats()["forwarded"] > 0
    for participant in ("doctor", "specialist"):
        peer = rooms.sfu().peer(participant)
        assert peer is not None
        publications = peer.publications.values()
        assert all(pub.passthrough and not pub.decoded for pub in publications)


async def test_differing_codecs_fall_back_to_decode_and_reencode(rooms: RoomServer) -> None:
    doctor = await joined(rooms, "tok-doctor")
    await doctor.start_media(
        SLOTS, [AudioStreamTrack(), SmallVideo()], prefer={"video": "video/H264"}
    )
    await doctor.expect(p.Connected)
    specialist = await with_media(await joined(rooms, "tok-specialist"))  # VP8 first

    assert await specialist.wait_received("doctor", "video", 10) >= 10
    assert await doctor.wait_received("specialist", "video", 10) >= 10
    peers = rooms.sfu().peer("doctor"), rooms.sfu().peer("specialist")
    assert peers[0] is not None
    assert peers[1] is not None
    assert peers[0].publications["video"].mime_type == "video/h264"
    assert peers[0].publications["video"].decoded
    assert not peers[0].publications["audio"].decoded


async def test_three_participants_each_receives_every_other(rooms: RoomServer) -> None:
    names = {"tok-doctor": "doctor", "tok-specialist": "specialist", "tok-nurse": "nurse"}
    doctor = await with_media(await joined(rooms, "tok-doctor"))
    specialist = await with_media(await joined(rooms, "tok-specialist"))
    nurse = rooms.client("tok-nurse")
    await nurse.open(header=False)  # the ?token= form browsers use
    assert isinstance(await nurse.join(), p.Lobby)
    await doctor.send(p.Admit(participant_id="nurse"))
    await nurse.expect(p.Joined)
    await with_media(nurse)

    clients = {"doctor": doctor, "specialist": specialist, "nurse": nurse}
    for me, client in clients.items():
        for other in names.values():
            if other != me:
                assert await client.wait_received(other, "video", 5) >= 5
                assert await client.wait_received(other, "audio", 5) >= 5


async def test_guest_waits_in_lobby_until_admitted(rooms: RoomServer) -> None:
    doctor = await joined(rooms, "tok-doctor")
    patient = rooms.client("tok-patient")
    await patient.open()
    assert isinstance(await patient.join(), p.Lobby)

    roster = await doctor.expect(p.Roster)
    while not any(x.participant_id == "patient" for x in roster.participants):
        roster = await doctor.expect(p.Roster)
    assert [x.in_lobby for x in roster.participants if x.participant_id == "patient"] == [True]

    await patient.send(p.Chat(text="hello?"))  # not yet allowed
    error = await patient.expect(p.Error)
    assert error.code is p.ErrorCode.OUT_OF_ORDER

    await patient.send(p.Admit(participant_id="patient"))  # a guest cannot admit
    assert (await patient.expect(p.Error)).code is p.ErrorCode.OUT_OF_ORDER

    await doctor.send(p.Admit(participant_id="patient"))
    joined_msg = await patient.expect(p.Joined)
    assert joined_msg.role is p.Role.GUEST
    await patient.send(p.Chat(text="hello doctor"))
    chat = await doctor.expect(p.Chat)
    assert (chat.participant_id, chat.text) == ("patient", "hello doctor")
    assert ("joined", "patient", "guest") in rooms.events.seen


async def test_host_removes_and_ends(rooms: RoomServer) -> None:
    doctor = await joined(rooms, "tok-doctor")
    specialist = await joined(rooms, "tok-specialist")
    await specialist.send(p.End())
    assert (await specialist.expect(p.Error)).code is p.ErrorCode.FORBIDDEN
    await doctor.send(p.Remove(participant_id="specialist"))
    assert (await specialist.expect(p.Bye)).reason is p.ByeReason.REMOVED
    await doctor.send(p.End())
    assert (await doctor.expect(p.Bye)).reason is p.ByeReason.ENDED
    await eventually(lambda: ("ended", "consult-42") in rooms.events.seen)
    assert rooms.registry.get("consult-42") is None


async def test_leave_and_rejoin_with_fresh_peer_connection(rooms: RoomServer) -> None:
    doctor = await with_media(await joined(rooms, "tok-doctor"))
    specialist = await with_media(await joined(rooms, "tok-specialist"))
    assert await doctor.wait_received("specialist", "video", 5) >= 5

    await specialist.send(p.Leave())
    assert (await specialist.expect(p.Bye)).reason is p.ByeReason.LEFT
    await specialist.close()
    await eventually(lambda: not doctor.received("specialist", "video"))  # slot given up
    assert ("left", "specialist", "left") in rooms.events.seen

    again = await with_media(await joined(rooms, "tok-specialist"))
    assert await again.wait_received("doctor", "video", 5) >= 5
    assert await doctor.wait_received("specialist", "video", 5) >= 5


async def test_same_socket_offers_again_after_a_drop(rooms: RoomServer) -> None:
    doctor = await with_media(await joined(rooms, "tok-doctor"))
    specialist = await with_media(await joined(rooms, "tok-specialist"))
    assert await doctor.wait_received("specialist", "video", 3) >= 3
    old_pc = specialist.pc
    await with_media(specialist)  # a fresh RTCPeerConnection, same socket
    assert specialist.pc is not old_pc
    assert await doctor.wait_received("specialist", "video", 3) >= 3
    assert await specialist.wait_received("doctor", "video", 3) >= 3


async def test_peer_that_never_connects_is_timed_out_and_told(rooms: RoomServer) -> None:
    doctor = await joined(rooms, "tok-doctor")
    pc = RTCPeerConnection(rtc_configuration(()))
    pc.addTrack(AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    await pc.close()  # the client vanishes: nobody will answer the server's checks
    await doctor.send(p.Offer(sdp=offer))
    await doctor.expect(p.Answer)
    error = await doctor.expect(p.Error, within=10)
    assert error.code in (p.ErrorCode.CONNECT_TIMEOUT, p.ErrorCode.MEDIA_FAILED)
    assert rooms.sfu().peer("doctor") is None
    await with_media(doctor)  # and the socket is still good for a fresh try


async def test_audio_only_stops_video_forwarding(rooms: RoomServer) -> None:
    doctor = await with_media(await joined(rooms, "tok-doctor"))
    specialist = await with_media(await joined(rooms, "tok-specialist"))
    assert await specialist.wait_received("doctor", "video", 5) >= 5

    await specialist.send(p.AudioOnly(enabled=True))
    await specialist.send(p.Chat(text="audio only"))  # handled in order: applied once echoed
    assert (await specialist.expect(p.Chat)).text == "audio only"
    peer = rooms.sfu().peer("specialist")
    assert peer is not None
    video_slots = [s.track for s in peer.slots if s.kind == "video"]
    # the audio that keeps arriving is the clock: 25 frames (0.5 s) for what was on the wire
    await specialist.wait_received("doctor", "audio", specialist.received("doctor", "audio") + 25)
    forwarded = [t.forwarded for t in video_slots]
    decoded = specialist.received("doctor", "video")
    audio = specialist.received("doctor", "audio")
    assert await specialist.wait_received("doctor", "audio", audio + 50) > audio + 10  # 1 s more
    assert [t.forwarded for t in video_slots] == forwarded
    assert specialist.received("doctor", "video") <= decoded + 2
    assert await doctor.wait_received("specialist", "video", decoded + 5)  # and its own video

    await specialist.send(p.AudioOnly(enabled=False))
    assert await specialist.wait_received("doctor", "video", decoded + 10)


async def test_pli_from_subscriber_reaches_publisher(rooms: RoomServer) -> None:
    doctor = await with_media(await joined(rooms, "tok-doctor"))
    specialist = await with_media(await joined(rooms, "tok-specialist"))
    assert await specialist.wait_received("doctor", "video", 5) >= 5

    assert doctor.pc is not None
    assert specialist.pc is not None
    host = "candidate:1 1 UDP 2130706431 192.0.2.9 9 typ host"
    await doctor.send(p.Candidate(candidate=host, sdp_mid="0", sdp_mline_index=0))  # accepted
    await doctor.send(p.Chat(text="after candidates"))
    assert (await doctor.expect(p.Chat)).text == "after candidates"
    (publisher,) = [
        t.sender for t in doctor.pc.getTransceivers() if t.kind == "video" and t.sender.track
    ]
    requests: list[float] = []
    original = publisher._send_keyframe

    def counted() -> None:
        requests.append(asyncio.get_running_loop().time())
        original()

    publisher._send_keyframe = counted  # type: ignore[method-assign]
    await until_quiet(specialist, requests)  # the keyframe requests of joining are over

    slot = next(
        mid
        for mid, s in specialist.media_map.items()
        if s.participant_id == "doctor" and s.kind == "video"
    )
    (receiver,) = [t.receiver for t in specialist.pc.getTransceivers() if t.mid == slot]
    ssrc = receiver.getSynchronizationSources()[0].source
    await receiver._send_rtcp_pli(ssrc)  # what a subscriber's decoder does after a loss
    await eventually(lambda: bool(requests))


async def until_quiet(client: RoomClient, requests: list[float], within: float = 10.0) -> None:
    """Until 15 more video frames from the doctor arrive with no keyframe request among them
    (the received video is the clock); ``requests`` is left empty."""
    async with asyncio.timeout(within):
        while True:
            requests.clear()
            await client.wait_received("doctor", "video", client.received("doctor", "video") + 15)
            if not requests:
                return


async def test_garbage_candidate_is_answered_and_media_still_flows(rooms: RoomServer) -> None:
    doctor = await with_media(await joined(rooms, "tok-doctor"))
    specialist = await with_media(await joined(rooms, "tok-specialist"))
    await doctor.send_raw('{"type": "candidate", "candidate": "candidate:garbage", "sdp_mid": "0"}')
    assert (await doctor.expect(p.Error)).code is p.ErrorCode.MALFORMED
    before = doctor.received("specialist", "video")
    assert await doctor.wait_received("specialist", "video", before + 5)
    assert specialist.pc is not None
    host = "candidate:1 1 UDP 2130706431 192.0.2.9 9 typ host"
    await doctor.send(p.Candidate(candidate=host, sdp_mid="0", sdp_mline_index=0))  # accepted
    await doctor.send(p.Chat(text="after candidates"))
    assert (await doctor.expect(p.Chat)).text == "after candidates"
