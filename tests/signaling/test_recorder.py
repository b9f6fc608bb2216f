"""Consented recording of a real two-party consult into WebM, without re-encoding."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from signaling import protocol as p
from tests.conftest import eventually

from .conftest import ROOM, RoomServer
from .test_media import joined, with_media


@pytest.mark.parametrize("finish", ["stop_recording", "host_ends_room"])
async def test_recording_from_room_start_includes_late_joiners(
    rooms: RoomServer, tmp_path: Path, finish: str
) -> None:
    doctor = await joined(rooms, "tok-doctor")
    room = rooms.registry.get(ROOM)
    assert room is not None
    target = tmp_path / "consult-42.webm"
    await room.start_recording(target)  # as the observer does on room_started, before media
    roster = await doctor.expect(p.Roster)
    while not roster.recording:
        roster = await doctor.expect(p.Roster)

    await with_media(doctor)
    await eventually(lambda: rooms.sfu().recorded_frames("doctor", "video") >= 20, within=10)
    specialist = await with_media(await joined(rooms, "tok-specialist"))  # joins later
    assert await doctor.wait_received("specialist", "video", 30) >= 30
    if finish == "stop_recording":
        await room.stop_recording()
    else:
        await doctor.send(p.End())  # the host's own socket closes while the room ends
    await eventually(lambda: ("recorded", str(target)) in rooms.events.seen)

    with av.open(str(target)) as container:
        kinds = sorted((s.type, s.codec_context.name) for s in container.streams)
        assert kinds == [("audio", "opus"), ("audio", "opus"), ("video", "vp8"), ("video", "vp8")]
        titles = {s.metadata.get("title") for s in container.streams}
        assert titles == {"doctor audio", "doctor video", "specialist audio", "specialist video"}
        frames = dict.fromkeys(s.index for s in container.streams.video)
        for packet in container.demux(container.streams.video):
            frames[packet.stream.index] = (frames[packet.stream.index] or 0) + len(packet.decode())
    assert min(n or 0 for n in frames.values()) >= 20
    assert not (tmp_path / ".consult-42.webm.parts").exists()
    assert specialist.pc is not None
