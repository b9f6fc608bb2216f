"""Consult rooms in the application: the signaling package's protocols implemented on the center.

- :class:`CenterAuthenticator`: a bearer token of a user, or a guest's one-time invitation.
- :class:`CenterRoomAccess`: the room of a video-consult request; host = the requesting doctor,
  member = the assigned specialist, everyone else waits in the lobby.
- :class:`CenterRoomObserver`: start, join, leave, end and recordings go onto the consult request
  and into the audit log; recording starts only with the patient's recording consent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from consult import coview, people
from consult import rooms as rooms_
from consult.center import Center
from consult.errors import AuthenticationFailed
from consult.filestore import ContentStore
from consult.principal import SYSTEM
from signaling.protocol import IceServer, Role
from signaling.rooms import ParticipantIdentity, RoomRegistry
from signaling.sfu import MediaConfig, Sfu
from signaling.turn import IceConfig
from signaling.ws import Admission, RoomSockets, WsTimeouts, bearer_token, make_room_ws_handler
from web import keys
from web.coview_items import share
from web.metrics import METRICS
from web.room_nodes import RELAYED, RoomLeases, relay
from web.session_watch import session_end

logger = logging.getLogger(__name__)

ROOMS = web.AppKey("rooms", RoomRegistry)
ICE = web.AppKey("ice", IceConfig)
RoomHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROOM_WS: web.AppKey[RoomHandler] = web.AppKey("room_ws")
ROOM_LEASES = web.AppKey("room_leases", RoomLeases)
ROOM_SOCKETS = web.AppKey("room_sockets", RoomSockets)
USER, GUEST = "user", "guest"


def identity_parts(identity: ParticipantIdentity) -> tuple[str, int]:
    kind, _, number = identity.user_id.partition(":")
    return kind, int(number) if number.isdigit() else 0


class CenterAuthenticator:
    def __init__(self, center: Center) -> None:
        self.center = center

    async def authenticate(self, token: str) -> ParticipantIdentity | None:
        async with self.center.work(client="room") as work:
            try:
                principal = await people.authenticate(work, token)
            except AuthenticationFailed:
                guest = await rooms_.redeem(work, token)
                if guest is None:
                    return None
                return ParticipantIdentity(f"{GUEST}:{guest.invitation_id}", guest.name)
        return ParticipantIdentity(f"{USER}:{principal.user_id}", principal.display_name)


class CenterCredentialEnd:
    """A signed-in participant's room socket ends with their sign-in (:mod:`web.session_watch`);
    a guest's invitation is checked when they enter."""

    def __init__(self, center: Center) -> None:
        self.center = center

    async def __call__(self, token: str, identity: ParticipantIdentity) -> object:
        kind, number = identity_parts(identity)
        if kind != USER:
            await asyncio.Event().wait()  # never
        return await session_end(self.center, token, number)


class CenterRoomAccess:
    def __init__(self, center: Center, ice: IceConfig) -> None:
        self.center, self.ice = center, ice

    async def admission(self, room_id: str, identity: ParticipantIdentity) -> Admission | None:
        if not room_id.isdigit():
            return None
        request_id = int(room_id)
        kind, number = identity_parts(identity)
        async with self.center.work(client="room") as work:
            role = await rooms_.admission_role(
                work,
                request_id,
                user_id=number if kind == USER else None,
                invitation_id=number if kind == GUEST else None,
            )
        if role is None:
            return None
        turn_user = identity.user_id.replace(":", "-")
        return Admission(
            role=Role(role.value), ice_servers=self.ice.servers_for(turn_user, time.time())
        )


class CenterRoomObserver:
    def __init__(self, center: Center, recordings: ContentStore, spool: Path) -> None:
        self.center, self.recordings, self.spool = center, recordings, spool
        self.registry: RoomRegistry | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _event(self, room_id: str, event: str, **detail: object) -> None:
        async with self.center.work(SYSTEM, client="room") as work:
            await rooms_.record_event(work, int(room_id), event, **detail)

    async def room_started(self, room_id: str) -> None:
        await self._event(room_id, "start")
        async with self.center.work(SYSTEM, client="room") as work:
            allowed = await rooms_.recording_allowed(work, int(room_id))
        if (
            allowed
            and self.registry is not None
            and (room := self.registry.get(room_id)) is not None
        ):
            self.spool.mkdir(parents=True, exist_ok=True)
            path = self.spool / f"room-{int(room_id)}-{int(time.time())}.webm"
            task = asyncio.create_task(room.start_recording(path))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def participant_joined(
        self, room_id: str, identity: ParticipantIdentity, role: Role
    ) -> None:
        await self._event(
            room_id, "join", who=identity.user_id, name=identity.display_name, role=role.value
        )

    async def participant_left(
        self, room_id: str, identity: ParticipantIdentity, reason: object
    ) -> None:
        await self._event(
            room_id, "leave", who=identity.user_id, reason=str(getattr(reason, "value", reason))
        )

    async def room_ended(self, room_id: str, reason: str) -> None:
        await self._event(room_id, "end", reason=reason)  # ends the room's co-view grants

    async def co_view_opened(
        self, room_id: str, identity: ParticipantIdentity, resource: str
    ) -> None:
        """A signed-in participant shares an item: the room's members may read it while the
        room is open (see :mod:`consult.coview` and :func:`web.coview_items.share`)."""
        kind, number = identity_parts(identity)
        if kind != USER or not room_id.isdigit():
            return
        await share(self.center, int(room_id), number, resource)

    async def recording_finished(self, room_id: str, path: Path) -> None:
        digest, size = await asyncio.to_thread(self._file_away, path)
        async with self.center.work(SYSTEM, client="room") as work:
            await rooms_.attach_recording(work, int(room_id), digest, size)

    def _file_away(self, path: Path) -> tuple[str, int]:
        """Move a finished recording into the content store (streamed hash, atomic rename)."""
        sha = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                sha.update(chunk)
        digest = sha.hexdigest()
        target = self.recordings.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size
        os.replace(path, target)
        return digest, size


def room_token(request: web.Request) -> str | None:
    """A guest's invitation or a bearer token, else the session cookie the auth middleware has
    already checked (same origin) for this upgrade."""
    return bearer_token(request) or request.get(keys.TOKEN)


def ice_config(app: web.Application) -> IceConfig:
    s = app[keys.SETTINGS]
    return IceConfig(
        stun_urls=tuple(s.stun_urls),
        turn_urls=tuple(s.turn_urls),
        turn_secret=s.turn_secret,
        ttl_seconds=s.turn_ttl_seconds,
    )


async def rooms_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, center = app[keys.SETTINGS], app[keys.CENTER]
    async with center.work(SYSTEM, client="room") as work:
        await coview.close_all(work)  # no room outlives the process, nor its grants
    ice = ice_config(app)
    server_ice = tuple(IceServer(urls=(u,)) for u in settings.stun_urls)
    media = MediaConfig(
        ice_servers=server_ice, connect_timeout=settings.room_connect_timeout_seconds
    )
    observer = CenterRoomObserver(
        center, ContentStore(settings.data_dir / "recordings"), settings.data_dir / "spool"
    )
    async with RoomRegistry(
        observer=observer, media_factory=lambda room_id: Sfu(room_id, media)
    ) as registry:
        observer.registry = registry
        sockets = RoomSockets()
        app[ROOMS] = registry
        app[METRICS].rooms.set_function(registry.room_count)
        app[METRICS].participants.set_function(registry.participant_count)
        app[ROOM_SOCKETS] = sockets
        app[ICE] = ice
        app[ROOM_WS] = make_room_ws_handler(
            authenticator=CenterAuthenticator(center),
            access=CenterRoomAccess(center, ice),
            registry=registry,
            timeouts=WsTimeouts(join=settings.room_connect_timeout_seconds),
            slots=media.max_slots,
            token_of=room_token,
            credential_end=CenterCredentialEnd(center),
            sockets=sockets,
        )
        if not settings.events_url:
            yield
            return
        async with RoomLeases(
            settings.events_url,
            settings.node_address,
            registry,
            prefix=f"{settings.events_channel}:room:",  # one center's rooms, not another's
        ) as leases:
            app[ROOM_LEASES] = leases
            yield


async def room_ws(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/rooms/{id}/ws``: the signaling package's handler, bound at start-up; on a
    center of several nodes, relayed to the node that hosts the room."""
    leases = request.app.get(ROOM_LEASES)
    if leases is not None and RELAYED not in request.headers:
        room_id = request.match_info["id"]
        owner = await leases.owner_elsewhere(room_id)
        if owner is not None:
            return await relay(request, leases, room_id, owner, request.app[keys.STOPPING])
    return await request.app[ROOM_WS](request)
