"""Consultation rooms: state, lobby, roster and the registry. Pure asyncio, no aiohttp or aiortc.

A room belongs to one video-consult request. Hosts and members are admitted on join; guests wait in
the lobby until a host admits them. Media is reached through the :class:`RoomMedia` protocol (the
SFU implements it) and room events go out through :class:`RoomObserver` (the lead implements it on
top of the consult request and the audit log).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from signaling.protocol import (
    AudioOnly,
    ByeReason,
    Candidate,
    Chat,
    CoView,
    CoViewAction,
    ErrorCode,
    MediaSlot,
    Message,
    Mute,
    ParticipantInfo,
    RaiseHand,
    Role,
    Roster,
)

logger = logging.getLogger(__name__)


class RoomState(enum.Enum):
    WAITING = "waiting"  # created; nobody admitted yet
    ACTIVE = "active"  # at least one admitted participant has joined
    ENDED = "ended"  # over for good; the registry forgets it


ENDED_BY_HOST = "ended by host"
SHUTTING_DOWN = "server shutting down"


@dataclass(frozen=True)
class ParticipantIdentity:
    """Who is on the other end of a socket, as the authenticator established it."""

    user_id: str
    display_name: str

    def __post_init__(self) -> None:
        if not self.user_id or len(self.user_id) > 200:
            raise ValueError(f"invalid user_id: {self.user_id!r}")


class RoomError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Outbox(Protocol):
    """How a room talks to one participant (the WebSocket session implements it)."""

    async def send(self, msg: Message) -> None: ...

    async def admitted(self) -> None:
        """The participant is in (at once, or when a host admitted them from the lobby)."""

    async def close(self, reason: ByeReason) -> None: ...


class RoomObserver(Protocol):
    """Room events, for the consult request and the audit log."""

    async def room_started(self, room_id: str) -> None: ...

    async def participant_joined(
        self, room_id: str, identity: ParticipantIdentity, role: Role
    ) -> None: ...

    async def participant_left(
        self, room_id: str, identity: ParticipantIdentity, reason: ByeReason
    ) -> None: ...

    async def room_ended(self, room_id: str, reason: str) -> None: ...

    async def recording_finished(self, room_id: str, path: Path) -> None: ...


class CoViewObserver(Protocol):
    """An observer that also hears what is shared in the room (optional: an observer without
    ``co_view_opened`` is not told). Called, and awaited, before the others are sent the open,
    so that they may load what was shared as soon as they hear of it."""

    async def co_view_opened(
        self, room_id: str, identity: ParticipantIdentity, resource: str
    ) -> None: ...


class PeerEvents(Protocol):
    """What the media side tells one participant's session."""

    async def media_map(self, slots: tuple[MediaSlot, ...]) -> None: ...

    async def connected(self, setup_ms: int) -> None: ...

    async def failed(self, code: ErrorCode, message: str) -> None: ...


class RoomMedia(Protocol):
    """A room's media forwarding (``signaling.sfu.Sfu``)."""

    async def connect(self, participant_id: str, offer_sdp: str, events: PeerEvents) -> str:
        """A fresh peer connection for the participant; returns the answer SDP."""

    async def add_candidate(self, participant_id: str, msg: Candidate) -> bool: ...

    async def drop(self, participant_id: str) -> None: ...

    async def set_audio_only(self, participant_id: str, enabled: bool) -> None: ...

    async def start_recording(self, path: Path) -> None: ...

    async def stop_recording(self) -> Path | None: ...

    async def close(self) -> None: ...


@dataclass
class Participant:
    identity: ParticipantIdentity
    role: Role
    outbox: Outbox
    in_lobby: bool
    audio_muted: bool = False
    video_muted: bool = False
    hand_raised: bool = False
    audio_only: bool = False

    @property
    def participant_id(self) -> str:
        return self.identity.user_id

    def info(self) -> ParticipantInfo:
        return ParticipantInfo(
            participant_id=self.participant_id,
            display_name=self.identity.display_name,
            role=self.role,
            in_lobby=self.in_lobby,
            audio_muted=self.audio_muted,
            video_muted=self.video_muted,
            hand_raised=self.hand_raised,
            audio_only=self.audio_only,
        )


class Room:
    def __init__(
        self,
        room_id: str,
        *,
        observer: RoomObserver,
        media: RoomMedia,
        max_participants: int,
        on_ended: Callable[[Room], None],
        idle_seconds: float | None = None,
        host_reopens: bool = False,
    ) -> None:
        """``host_reopens``: the host ended this consult's last room; only a host's join opens
        it again (anyone else is told it has ended)."""
        self.room_id = room_id
        self.media = media
        self.max_participants = max_participants
        self._observer = observer
        self._on_ended = on_ended
        self._participants: dict[str, Participant] = {}
        self._state = RoomState.WAITING
        self._recording = False
        self._coview: dict[CoViewAction, CoView] = {}  # the shared view, replayed to late joiners
        self._lock = asyncio.Lock()
        self._idle_seconds = idle_seconds
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_end: asyncio.Task[None] | None = None
        self._ending: asyncio.Future[None] | None = None
        self._host_reopens = host_reopens
        self.end_reason: str | None = None

    @property
    def state(self) -> RoomState:
        return self._state

    @property
    def awaiting_host(self) -> bool:
        """The host ended the consult's last room and no host has opened this one yet."""
        return self._host_reopens

    @property
    def recording(self) -> bool:
        return self._recording

    @property
    def size(self) -> int:
        """Participants in the room, admitted or waiting in the lobby."""
        return len(self._participants)

    def participant(self, participant_id: str) -> Participant | None:
        return self._participants.get(participant_id)

    def admitted(self) -> list[Participant]:
        return [p for p in self._participants.values() if not p.in_lobby]

    async def join(self, identity: ParticipantIdentity, role: Role, outbox: Outbox) -> Participant:
        """Add a participant: admitted at once unless a guest. The same user replaces themself."""
        async with self._lock:
            self._require_open()
            if self._host_reopens and role is not Role.HOST:
                if not self._participants:
                    self._start_idle()  # an unopened room is forgotten in time
                raise RoomError(ErrorCode.ROOM_ENDED, "the host has ended this room")
            self._host_reopens = False
            old = self._participants.pop(identity.user_id, None)
            if old is not None:
                await self._drop(old, ByeReason.REPLACED)
            if len(self._participants) >= self.max_participants:
                raise RoomError(ErrorCode.ROOM_FULL, "the room is full")
            participant = Participant(identity, role, outbox, in_lobby=role is Role.GUEST)
            self._participants[identity.user_id] = participant
            self._cancel_idle()
            if not participant.in_lobby:
                await self._entered(participant)
        await self.broadcast_roster()
        return participant

    async def admit(self, by: str, participant_id: str) -> None:
        async with self._lock:
            self._require_host(by)
            target = self._require(participant_id)
            if not target.in_lobby:
                raise RoomError(ErrorCode.OUT_OF_ORDER, f"{participant_id} is not in the lobby")
            target.in_lobby = False
            await self._entered(target)
        await self.broadcast_roster()

    async def remove(self, by: str, participant_id: str) -> None:
        async with self._lock:
            self._require_host(by)
            target = self._participants.pop(self._require(participant_id).participant_id)
            await self._drop(target, ByeReason.REMOVED)
        await self.broadcast_roster()

    async def leave(
        self, participant_id: str, outbox: Outbox, reason: ByeReason = ByeReason.LEFT
    ) -> None:
        """The participant behind ``outbox`` went away; a no-op when gone or replaced already."""
        async with self._lock:
            gone = self._participants.get(participant_id)
            if gone is None or gone.outbox is not outbox:
                return
            del self._participants[participant_id]
            await self.media.drop(participant_id)
            if not gone.in_lobby:
                await self._notify_left(gone, reason)
        await self.broadcast_roster()

    async def end_by(self, by: str) -> None:
        self._require_host(by)
        await self.end(ENDED_BY_HOST)

    async def end(self, reason: str, bye: ByeReason = ByeReason.ENDED) -> None:
        """End the room for everyone (each gets ``bye``). Runs to completion even when the
        caller is cancelled (the host's own socket closes halfway through), and concurrent calls
        share one ending."""
        if self._ending is None:
            self._ending = asyncio.ensure_future(self._end(reason, bye))
        await asyncio.shield(self._ending)

    async def _end(self, reason: str, bye: ByeReason) -> None:
        async with self._lock:
            if self._state is RoomState.ENDED:
                return
            self.end_reason = reason
            self._set_state(RoomState.ENDED)
            self._cancel_idle()
            everyone = list(self._participants.values())
            self._participants.clear()
            for participant in everyone:
                await self._drop(participant, bye)
            await self._finish_recording()
            await self.media.close()
            await self._call("room_ended", self._observer.room_ended(self.room_id, reason))
        self._on_ended(self)

    async def update(self, participant_id: str, msg: Mute | RaiseHand | AudioOnly) -> None:
        """Apply a participant's own state change and tell everyone."""
        participant = self._require_admitted(participant_id)
        if isinstance(msg, Mute):
            participant.audio_muted, participant.video_muted = msg.audio_muted, msg.video_muted
        elif isinstance(msg, RaiseHand):
            participant.hand_raised = msg.raised
        else:
            participant.audio_only = msg.enabled
            await self.media.set_audio_only(participant_id, msg.enabled)
        await self.broadcast_roster()

    async def relay(self, participant_id: str, msg: Chat | CoView) -> None:
        """Chat goes to every admitted participant (sender included); co-view to the others."""
        sender = self._require_admitted(participant_id)
        stamped = _stamp(msg, participant_id)
        if isinstance(stamped, CoView):
            self._remember(stamped)
            opened = getattr(self._observer, "co_view_opened", None)
            if stamped.action is CoViewAction.OPEN and opened is not None:
                await self._call(
                    "co_view_opened", opened(self.room_id, sender.identity, stamped.resource)
                )
        for p in self.admitted():
            if isinstance(msg, Chat) or p.participant_id != participant_id:
                await p.outbox.send(stamped)

    def _remember(self, msg: CoView) -> None:
        """Keep what is open and its latest view state; a close forgets it."""
        if msg.action is CoViewAction.OPEN:
            self._coview = {CoViewAction.OPEN: msg}
        elif msg.action is CoViewAction.CLOSE:
            self._coview = {}
        elif self._coview:
            self._coview[msg.action] = msg

    async def start_recording(self, path: Path) -> None:
        """Consent was given: record the consult to ``path`` (the caller chose and cleaned it)."""
        self._require_open()
        if self._recording:
            return
        await self.media.start_recording(path)
        self._recording = True
        await self.broadcast_roster()

    async def stop_recording(self) -> None:
        await self._finish_recording()
        await self.broadcast_roster()

    async def broadcast_roster(self) -> None:
        if self._state is RoomState.ENDED:
            return
        if not self._participants:
            self._start_idle()
        everyone = list(self._participants.values())
        roster = Roster(participants=tuple(p.info() for p in everyone), recording=self._recording)
        for participant in everyone:
            if not participant.in_lobby or participant.role is Role.HOST:
                await participant.outbox.send(roster)

    def _start_idle(self) -> None:
        """An empty room ends by itself after ``idle_seconds`` (when set)."""
        if self._idle_seconds is None or self._idle_timer is not None:
            return
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(self._idle_seconds, self._end_idle)

    def _end_idle(self) -> None:
        self._idle_timer = None
        self._idle_end = asyncio.ensure_future(self.end("empty for too long"))

    def _cancel_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _set_state(self, state: RoomState) -> None:
        if state is not self._state:
            logger.info("room %s: state %s -> %s", self.room_id, self._state.value, state.value)
            self._state = state

    async def _entered(self, participant: Participant) -> None:
        if self._state is RoomState.WAITING:
            self._set_state(RoomState.ACTIVE)
            await self._call("room_started", self._observer.room_started(self.room_id))
        await participant.outbox.admitted()
        for shared in list(self._coview.values()):  # OPEN first: dicts keep insertion order
            await participant.outbox.send(shared)
        await self._call(
            "participant_joined",
            self._observer.participant_joined(self.room_id, participant.identity, participant.role),
        )

    async def _drop(self, participant: Participant, reason: ByeReason) -> None:
        await self.media.drop(participant.participant_id)
        await participant.outbox.close(reason)
        if not participant.in_lobby:
            await self._notify_left(participant, reason)

    async def _notify_left(self, participant: Participant, reason: ByeReason) -> None:
        await self._call(
            "participant_left",
            self._observer.participant_left(self.room_id, participant.identity, reason),
        )

    async def _finish_recording(self) -> None:
        if not self._recording:
            return
        self._recording = False
        path = await self.media.stop_recording()
        if path is not None:
            await self._call(
                "recording_finished", self._observer.recording_finished(self.room_id, path)
            )

    async def _call(self, what: str, coro: Awaitable[None]) -> None:
        # The observer is the lead's adapter: a failure there is logged, the room carries on.
        try:
            await coro
        except Exception:
            logger.exception("room %s: observer %s failed", self.room_id, what)

    def _require_open(self) -> None:
        if self._state is RoomState.ENDED:
            raise RoomError(ErrorCode.ROOM_ENDED, "the room has ended")

    def _require(self, participant_id: str) -> Participant:
        participant = self._participants.get(participant_id)
        if participant is None:
            raise RoomError(ErrorCode.NOT_FOUND, f"no participant {participant_id!r}")
        return participant

    def _require_admitted(self, participant_id: str) -> Participant:
        participant = self._require(participant_id)
        if participant.in_lobby:
            raise RoomError(ErrorCode.OUT_OF_ORDER, "waiting in the lobby")
        return participant

    def _require_host(self, participant_id: str) -> None:
        if self._require_admitted(participant_id).role is not Role.HOST:
            raise RoomError(ErrorCode.FORBIDDEN, "only the host can do that")


def _stamp(msg: Chat | CoView, participant_id: str) -> Chat | CoView:
    if isinstance(msg, Chat):
        return Chat(text=msg.text, participant_id=participant_id)
    return CoView(
        action=msg.action, resource=msg.resource, params=msg.params, participant_id=participant_id
    )


class RoomRegistry:
    """All live rooms of this process.

    In a cleanup_ctx: ``async with RoomRegistry(...) as registry: app[KEY] = registry; yield``;
    leaving ends every room (participants get ``bye`` ``shutdown``, the observer ``room_ended``).
    A room its host ended is remembered (the last ``MAX_ENDED`` of them): a new join there is
    refused, ``room_ended``, until a host joins and opens the consult's next room.
    """

    MAX_ENDED = 10_000

    def __init__(
        self,
        *,
        observer: RoomObserver,
        media_factory: Callable[[str], RoomMedia],
        max_participants: int = 6,
        idle_seconds: float | None = 600.0,
    ) -> None:
        if max_participants < 2:
            raise ValueError(f"invalid max_participants: {max_participants!r}")
        self._observer = observer
        self._media_factory = media_factory
        self._max_participants = max_participants
        self._idle_seconds = idle_seconds
        self._rooms: dict[str, Room] = {}
        self._ended_by_host: dict[str, None] = {}  # insertion-ordered: the oldest go first

    async def __aenter__(self) -> RoomRegistry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def get(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def room_count(self) -> int:
        """Rooms open in this process (for the metrics)."""
        return len(self._rooms)

    def participant_count(self) -> int:
        """Participants of the open rooms, those in a lobby included."""
        return sum(room.size for room in self._rooms.values())

    def get_or_create(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            room = Room(
                room_id,
                observer=self._observer,
                media=self._media_factory(room_id),
                max_participants=self._max_participants,
                on_ended=self._forget,
                idle_seconds=self._idle_seconds,
                host_reopens=room_id in self._ended_by_host,
            )
            self._rooms[room_id] = room
            logger.info("room %s: created", room_id)
        return room

    async def end_room(self, room_id: str, reason: str) -> None:
        room = self._rooms.get(room_id)
        if room is not None:
            await room.end(reason)

    async def close(self) -> None:
        """The server is stopping: every room ends at once, its participants get ``bye``
        ``shutdown`` (they may come back to the consult later); no new room opens."""
        rooms = list(self._rooms.values())
        await asyncio.gather(*(room.end(SHUTTING_DOWN, ByeReason.SHUTDOWN) for room in rooms))

    def _forget(self, room: Room) -> None:
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
        if room.end_reason == ENDED_BY_HOST:
            self._ended_by_host.pop(room.room_id, None)
            self._ended_by_host[room.room_id] = None
            while len(self._ended_by_host) > self.MAX_ENDED:
                del self._ended_by_host[next(iter(self._ended_by_host))]
        elif not room.awaiting_host:  # a host opened the consult's next room
            self._ended_by_host.pop(room.room_id, None)
