"""The WebSocket door of a room: ``GET /api/v1/rooms/{id}/ws``.

``make_room_ws_handler`` binds the dependencies (who the token belongs to, what they may do in
which room, the registry, timeouts) and returns an aiohttp handler; the web package registers it.
Every frame is parsed by ``signaling.protocol``; a bad or untimely message is answered with an
``error`` message and the socket stays open.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import WSMsgType, web

from signaling.protocol import (
    CLIENT_MESSAGES,
    Admit,
    Answer,
    AudioOnly,
    Bye,
    ByeReason,
    Candidate,
    Chat,
    Connected,
    CoView,
    End,
    Error,
    ErrorCode,
    IceServer,
    Join,
    Joined,
    Leave,
    Lobby,
    MediaMap,
    MediaSlot,
    Message,
    Mute,
    Offer,
    ProtocolError,
    RaiseHand,
    Remove,
    Role,
    decode,
    encode,
)
from signaling.rooms import SHUTTING_DOWN, ParticipantIdentity, Room, RoomError, RoomRegistry

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Admission:
    """What a participant may do in a room, and the ICE servers (with fresh TURN credentials)."""

    role: Role
    ice_servers: tuple[IceServer, ...]


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> ParticipantIdentity | None:
        """The identity behind a bearer token or invitation token; None when not valid."""


CredentialEnd = Callable[[str, ParticipantIdentity], Awaitable[object]]
"""Completes when the credential (token) a participant entered with ends (logout, revocation,
expiry); the participant then gets ``bye`` ``session_ended`` and the socket closes."""


class RoomAccess(Protocol):
    async def admission(self, room_id: str, identity: ParticipantIdentity) -> Admission | None:
        """The role of ``identity`` in the room, or None when they may not enter it."""


@dataclass(frozen=True)
class WsTimeouts:
    join: float = 15.0  # from the socket opening to the ``join`` message
    heartbeat: float = 20.0  # WebSocket ping interval
    close: float = 2.0  # how long a closing socket waits for the client's close frame

    def __post_init__(self) -> None:
        if self.join <= 0 or self.heartbeat <= 0 or self.close <= 0:
            raise ValueError(f"invalid timeouts: {self!r}")


class RoomSockets:
    """The open room sockets of this process, so that a stopping server can say goodbye to
    those that are in no room yet (the registry's :meth:`~RoomRegistry.close` tells the rest)."""

    def __init__(self) -> None:
        self._sessions: set[Session] = set()

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, session: Session) -> None:
        self._sessions.add(session)

    def discard(self, session: Session) -> None:
        self._sessions.discard(session)

    async def close_all(self, reason: ByeReason = ByeReason.SHUTDOWN) -> None:
        await asyncio.gather(*(session.close(reason) for session in list(self._sessions)))


def bearer_token(request: web.Request) -> str | None:
    """The token from ``Authorization: Bearer``, else from ``?token=`` (browsers' WebSockets)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("token") or None


def make_room_ws_handler(
    *,
    authenticator: Authenticator,
    access: RoomAccess,
    registry: RoomRegistry,
    timeouts: WsTimeouts,
    slots: int,
    room_id_param: str = "id",
    token_of: Callable[[web.Request], str | None] = bearer_token,
    credential_end: CredentialEnd | None = None,
    sockets: RoomSockets | None = None,
) -> Handler:
    """The aiohttp handler for a room's WebSocket; ``slots`` must match the media config;
    ``token_of`` finds the caller's token in the upgrade request (header or query by default);
    ``credential_end`` (when given) tells when that token stops being valid; ``sockets`` (when
    given) holds every open session while it runs."""
    tracked = sockets if sockets is not None else RoomSockets()

    async def handle(request: web.Request) -> web.StreamResponse:
        token = token_of(request)
        identity = await authenticator.authenticate(token) if token else None
        if identity is None:
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": "Bearer"})
        room_id = request.match_info[room_id_param]
        admission = await access.admission(room_id, identity)
        if admission is None:
            raise web.HTTPForbidden()
        ws = web.WebSocketResponse(
            heartbeat=timeouts.heartbeat, max_msg_size=256 * 1024, timeout=timeouts.close
        )
        await ws.prepare(request)
        room = registry.get_or_create(room_id)
        session = Session(ws, room, identity, admission, slots)
        ended = credential_end(token, identity) if credential_end and token else None
        tracked.add(session)
        try:
            await session.run(timeouts.join, ended)
        finally:
            tracked.discard(session)
        return ws

    return handle


class SessionState(enum.Enum):
    NEW = "new"  # waiting for ``join``
    LOBBY = "lobby"
    IN_ROOM = "in_room"
    CLOSED = "closed"


class Session:
    """One participant's socket: the room's Outbox and the media's PeerEvents for them."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        room: Room,
        identity: ParticipantIdentity,
        admission: Admission,
        slots: int,
    ) -> None:
        self._ws = ws
        self._room = room
        self._identity = identity
        self._admission = admission
        self._slots = slots
        self._state = SessionState.NEW
        self._joined = asyncio.Event()

    @property
    def participant_id(self) -> str:
        return self._identity.user_id

    async def run(self, join_timeout: float, ended: Awaitable[object] | None = None) -> None:
        watchdog = asyncio.ensure_future(self._join_watchdog(join_timeout))
        expiry = asyncio.ensure_future(self._end_with(ended)) if ended else None
        try:
            async for frame in self._ws:
                if frame.type is WSMsgType.TEXT:
                    await self._handle_text(frame.data)
                elif frame.type is WSMsgType.BINARY:
                    await self._error(ErrorCode.MALFORMED, "binary frames are not used")
                if self._state is SessionState.CLOSED:
                    break
        finally:
            watchdog.cancel()
            if expiry is not None:
                expiry.cancel()
            if self._state is not SessionState.CLOSED:
                self._state = SessionState.CLOSED
                await self._room.leave(self.participant_id, self, ByeReason.LEFT)
            await self._ws.close()

    # --- Outbox ---------------------------------------------------------------------------------

    async def send(self, msg: Message) -> None:
        if self._ws.closed:
            return
        try:
            await self._ws.send_str(encode(msg))
        except ConnectionError:
            logger.debug("room %s: %s went away", self._room.room_id, self.participant_id)

    async def admitted(self) -> None:
        self._state = SessionState.IN_ROOM
        await self.send(
            Joined(
                participant_id=self.participant_id,
                role=self._admission.role,
                ice_servers=self._admission.ice_servers,
                slots=self._slots,
            )
        )

    async def close(self, reason: ByeReason) -> None:
        if self._state is SessionState.CLOSED:
            return
        self._state = SessionState.CLOSED
        await self.send(Bye(reason=reason))
        await self._ws.close()

    # --- PeerEvents -----------------------------------------------------------------------------

    async def media_map(self, slots: tuple[MediaSlot, ...]) -> None:
        await self.send(MediaMap(slots=slots))

    async def connected(self, setup_ms: int) -> None:
        await self.send(Connected(setup_ms=setup_ms))

    async def failed(self, code: ErrorCode, message: str) -> None:
        await self._error(code, message)

    # --- incoming -------------------------------------------------------------------------------

    async def _handle_text(self, text: str) -> None:
        try:
            msg = decode(text)
        except ProtocolError as exc:
            await self.send(Error(code=ErrorCode(exc.code), message=str(exc), ref=exc.ref))
            return
        if type(msg) not in CLIENT_MESSAGES:
            await self._error(ErrorCode.OUT_OF_ORDER, f"{msg.type} is sent by the server", msg)
            return
        try:
            await self._dispatch(msg)
        except RoomError as exc:
            await self._error(exc.code, str(exc), msg)
        except Exception:  # the adapter's boundary: log it, tell the client, keep the socket
            logger.exception(
                "room %s: %s from %s failed", self._room.room_id, msg.type, self.participant_id
            )
            await self._error(ErrorCode.INTERNAL, "the server could not handle this message", msg)

    async def _dispatch(self, msg: Message) -> None:
        if isinstance(msg, Leave):
            await self._leave()
        elif isinstance(msg, Join):
            await self._join(msg)
        elif self._state is not SessionState.IN_ROOM:
            await self._error(ErrorCode.OUT_OF_ORDER, f"{msg.type} before being admitted", msg)
        elif isinstance(msg, Offer):
            await self._offer(msg)
        elif isinstance(msg, Candidate):
            await self._candidate(msg)
        else:
            await self._in_room(msg)

    async def _in_room(self, msg: Message) -> None:
        room, me = self._room, self.participant_id
        if isinstance(msg, Mute | RaiseHand | AudioOnly):
            await room.update(me, msg)
        elif isinstance(msg, Chat | CoView):
            await room.relay(me, msg)
        elif isinstance(msg, Admit):
            await room.admit(me, msg.participant_id)
        elif isinstance(msg, Remove):
            await room.remove(me, msg.participant_id)
        elif isinstance(msg, End):
            await room.end_by(me)

    async def _join(self, msg: Join) -> None:
        if self._state is not SessionState.NEW:
            await self._error(ErrorCode.OUT_OF_ORDER, "already joined", msg)
            return
        identity = self._identity
        if msg.display_name and not identity.display_name:
            identity = ParticipantIdentity(identity.user_id, msg.display_name)
        self._joined.set()
        try:
            participant = await self._room.join(identity, self._admission.role, self)
        except RoomError as exc:
            if exc.code is not ErrorCode.ROOM_ENDED:
                raise
            await self._error(exc.code, str(exc), msg)
            stopping = self._room.end_reason == SHUTTING_DOWN
            await self.close(ByeReason.SHUTDOWN if stopping else ByeReason.ENDED)
            return
        if participant.in_lobby:
            self._state = SessionState.LOBBY
            await self.send(Lobby(participant_id=self.participant_id))
        if msg.audio_only:
            participant.audio_only = True
            await self._room.media.set_audio_only(self.participant_id, True)

    async def _offer(self, msg: Offer) -> None:
        try:
            answer = await self._room.media.connect(self.participant_id, msg.sdp, self)
        except Exception as exc:  # aiortc's many error types, at the adapter boundary
            logger.warning(
                "room %s: offer from %s failed: %s", self._room.room_id, self.participant_id, exc
            )
            await self._error(ErrorCode.MEDIA_FAILED, f"cannot use this offer: {exc}", msg)
            return
        await self.send(Answer(sdp=answer))

    async def _candidate(self, msg: Candidate) -> None:
        try:
            known = await self._room.media.add_candidate(self.participant_id, msg)
        except (ValueError, IndexError) as exc:  # aioice's candidate parser
            await self._error(ErrorCode.MALFORMED, f"bad candidate: {exc}", msg)
            return
        if not known:
            await self._error(ErrorCode.OUT_OF_ORDER, "candidate before offer", msg)

    async def _leave(self) -> None:
        self._state = SessionState.CLOSED
        await self._room.leave(self.participant_id, self, ByeReason.LEFT)
        await self.send(Bye(reason=ByeReason.LEFT))

    async def _error(self, code: ErrorCode, message: str, ref: Message | None = None) -> None:
        await self.send(Error(code=code, message=message, ref=ref.type if ref else None))

    async def _end_with(self, ended: Awaitable[object]) -> None:
        await ended
        logger.info("room %s: %s's session ended", self._room.room_id, self.participant_id)
        if self._state is SessionState.CLOSED:
            return
        if self._state is not SessionState.NEW:
            await self._room.leave(self.participant_id, self, ByeReason.SESSION_ENDED)
        await self.close(ByeReason.SESSION_ENDED)

    async def _join_watchdog(self, within: float) -> None:
        try:
            await asyncio.wait_for(self._joined.wait(), within)
        except TimeoutError:
            await self._error(ErrorCode.OUT_OF_ORDER, "no join message in time")
            await self.close(ByeReason.TIMEOUT)
