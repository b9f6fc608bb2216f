"""Room state and lobby logic, pure asyncio with fake outboxes and media."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from signaling import protocol as p
from signaling.rooms import ParticipantIdentity, PeerEvents, RoomError, RoomRegistry, RoomState
from tests.conftest import eventually

from .conftest import Events


@dataclass
class FakeOutbox:
    sent: list[p.Message] = field(default_factory=list)
    admitted_calls: int = 0
    closed: p.ByeReason | None = None

    async def send(self, msg: p.Message) -> None:
        self.sent.append(msg)

    async def admitted(self) -> None:
        self.admitted_calls += 1

    async def close(self, reason: p.ByeReason) -> None:
        self.closed = reason


@dataclass
class FakeMedia:
    dropped: list[str] = field(default_factory=list)
    closed: bool = False

    async def connect(self, participant_id: str, offer_sdp: str, events: PeerEvents) -> str:
        return "v=0"

    async def add_candidate(self, participant_id: str, msg: p.Candidate) -> bool:
        return True

    async def drop(self, participant_id: str) -> None:
        self.dropped.append(participant_id)

    async def set_audio_only(self, participant_id: str, enabled: bool) -> None: ...

    async def start_recording(self, path: Path) -> None: ...

    async def stop_recording(self) -> Path | None:
        return None

    async def close(self) -> None:
        self.closed = True


DOCTOR = ParticipantIdentity("doctor", "Dr. Wang")
PATIENT = ParticipantIdentity("patient", "Zhao")


def registry(events: Events, idle: float | None = None) -> tuple[RoomRegistry, FakeMedia]:
    media = FakeMedia()
    return RoomRegistry(observer=events, media_factory=lambda _: media, idle_seconds=idle), media


async def test_states_and_lobby(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="signaling.rooms")
    events = Events()
    rooms, media = registry(events)
    room = rooms.get_or_create("r1")
    assert room.state is RoomState.WAITING

    guest = FakeOutbox()
    waiting = await room.join(PATIENT, p.Role.GUEST, guest)
    assert waiting.in_lobby
    assert room.state is RoomState.WAITING  # a guest alone does not start the consult
    assert guest.admitted_calls == 0

    host = FakeOutbox()
    await room.join(DOCTOR, p.Role.HOST, host)
    assert room.state is RoomState.ACTIVE
    assert "state waiting -> active" in caplog.text
    with pytest.raises(RoomError) as refused:
        await room.admit("patient", "patient")
    assert refused.value.code is p.ErrorCode.OUT_OF_ORDER
    await room.admit("doctor", "patient")
    assert guest.admitted_calls == 1

    await room.end_by("doctor")
    assert room.state is RoomState.ENDED
    assert guest.closed is host.closed is p.ByeReason.ENDED
    assert media.closed
    assert rooms.get("r1") is None
    assert [e[0] for e in events.seen] == ["started", "joined", "joined", "left", "left", "ended"]


async def test_an_empty_room_ends_after_the_idle_time() -> None:
    events = Events()
    rooms, _ = registry(events, idle=0.1)
    room = rooms.get_or_create("r2")
    outbox = FakeOutbox()
    await room.join(DOCTOR, p.Role.HOST, outbox)
    await room.leave("doctor", outbox)
    await eventually(lambda: room.state is RoomState.ENDED)
    assert rooms.get("r2") is None


async def test_a_failing_observer_does_not_break_the_room() -> None:
    class Broken(Events):
        async def participant_joined(
            self, room_id: str, identity: ParticipantIdentity, role: p.Role
        ) -> None:
            raise RuntimeError("audit log down")

    rooms, _ = registry(Broken())
    room = rooms.get_or_create("r3")
    outbox = FakeOutbox()
    await room.join(DOCTOR, p.Role.HOST, outbox)
    assert outbox.admitted_calls == 1
    async with rooms:
        await asyncio.sleep(0)
    assert room.state is RoomState.ENDED
