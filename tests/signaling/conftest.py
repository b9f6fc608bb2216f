"""A real aiohttp server with the room WebSocket, in-test token and access tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import hypothesis  # noqa: F401  (see below)
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from signaling import (
    Admission,
    MediaConfig,
    ParticipantIdentity,
    Role,
    RoomRegistry,
    RoomSockets,
    Sfu,
    WsTimeouts,
    make_room_ws_handler,
)
from signaling.client import RoomClient
from signaling.protocol import ByeReason

# hypothesis is imported here, up front: its pytest plugin otherwise imports it at the terminal
# summary, after the media tests, and CPython 3.11.7 then fails compiling it with "AST constructor
# recursion depth mismatch" (a CPython bug, gh-106905).

ROOM = "consult-42"
SLOTS = 3
TOKENS = {
    "tok-doctor": ParticipantIdentity("doctor", "Dr. Wang"),
    "tok-specialist": ParticipantIdentity("specialist", "Dr. Li"),
    "tok-patient": ParticipantIdentity("patient", "Patient Zhao"),
    "tok-nurse": ParticipantIdentity("nurse", "Nurse Chen"),
}
ROLES = {"doctor": Role.HOST, "specialist": Role.MEMBER, "patient": Role.GUEST, "nurse": Role.GUEST}


class TableAuth:
    async def authenticate(self, token: str) -> ParticipantIdentity | None:
        return TOKENS.get(token)


class TableAccess:
    async def admission(self, room_id: str, identity: ParticipantIdentity) -> Admission | None:
        role = ROLES.get(identity.user_id)
        if room_id != ROOM or role is None:
            return None
        return Admission(role=role, ice_servers=())


@dataclass
class Events:
    seen: list[tuple[str, ...]] = field(default_factory=list)

    async def room_started(self, room_id: str) -> None:
        self.seen.append(("started", room_id))

    async def participant_joined(
        self, room_id: str, identity: ParticipantIdentity, role: Role
    ) -> None:
        self.seen.append(("joined", identity.user_id, role.value))

    async def participant_left(
        self, room_id: str, identity: ParticipantIdentity, reason: ByeReason
    ) -> None:
        self.seen.append(("left", identity.user_id, reason.value))

    async def room_ended(self, room_id: str, reason: str) -> None:
        self.seen.append(("ended", room_id))

    async def recording_finished(self, room_id: str, path: Path) -> None:
        self.seen.append(("recorded", str(path)))


@dataclass
class RoomServer:
    server: TestServer
    http: aiohttp.ClientSession
    registry: RoomRegistry
    events: Events
    sockets: RoomSockets
    clients: list[RoomClient] = field(default_factory=list)

    def url(self, room: str = ROOM) -> str:
        return str(self.server.make_url(f"/api/v1/rooms/{room}/ws"))

    def client(self, token: str, room: str = ROOM) -> RoomClient:
        client = RoomClient(self.http, self.url(room), token)
        self.clients.append(client)
        return client

    def sfu(self) -> Sfu:
        room = self.registry.get(ROOM)
        assert room is not None
        assert isinstance(room.media, Sfu)
        return room.media


@pytest.fixture
def media_config() -> MediaConfig:
    return MediaConfig(connect_timeout=5.0, max_slots=SLOTS)


@pytest.fixture
def ws_timeouts() -> WsTimeouts:
    return WsTimeouts(join=5.0)


@pytest.fixture
async def rooms(media_config: MediaConfig, ws_timeouts: WsTimeouts) -> AsyncIterator[RoomServer]:
    events = Events()
    registry = RoomRegistry(observer=events, media_factory=lambda rid: Sfu(rid, media_config))
    sockets = RoomSockets()
    handler = make_room_ws_handler(
        authenticator=TableAuth(),
        access=TableAccess(),
        registry=registry,
        timeouts=ws_timeouts,
        slots=SLOTS,
        sockets=sockets,
    )
    app = web.Application()
    app.router.add_get("/api/v1/rooms/{id}/ws", handler)
    server = TestServer(app)
    await server.start_server()
    http = aiohttp.ClientSession()
    room_server = RoomServer(server, http, registry, events, sockets)
    yield room_server
    for client in room_server.clients:
        await client.close()
    await registry.close()
    await http.close()
    await server.close()
