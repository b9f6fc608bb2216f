"""Selective forwarding of one room's media over aiortc: the room's :class:`RoomMedia`.

Each participant holds one peer connection to the server. Their audio and video arrive as
:class:`Publication`s; the server fills each other participant's receive slots with them, passing
encoded frames through (no decode, no encode) where the codecs match.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signaling.peer import Peer, open_peer, setup_ms, wait_connected
from signaling.protocol import Candidate, ErrorCode, IceServer
from signaling.publication import FrameSink, Publication
from signaling.recorder import Recorder
from signaling.rooms import PeerEvents

logger = logging.getLogger(__name__)

KINDS = ("audio", "video")


class ForwardingMode(enum.Enum):
    PASSTHROUGH = "passthrough"  # encoded frames forwarded; decode only where codecs differ
    RELAY = "relay"  # aiortc's MediaRelay everywhere: decode and re-encode (for comparison)


@dataclass(frozen=True)
class MediaConfig:
    ice_servers: tuple[IceServer, ...] = ()  # the server's own; empty: host candidates only
    connect_timeout: float = 10.0
    max_slots: int = 5  # receive slots per kind and participant
    mode: ForwardingMode = ForwardingMode.PASSTHROUGH

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or not 0 < self.max_slots <= 16:
            raise ValueError(f"invalid media config: {self!r}")


class Sfu:
    def __init__(
        self,
        room_id: str,
        config: MediaConfig,
        recorder_factory: Callable[[Path], Recorder] = Recorder,
    ) -> None:
        self.room_id = room_id
        self.config = config
        self._recorder_factory = recorder_factory
        self._recorder: Recorder | None = None
        self._recording_sinks: list[tuple[Publication, FrameSink]] = []
        self._peers: dict[str, Peer] = {}
        self._events: dict[str, PeerEvents] = {}
        self._audio_only: dict[str, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def peer(self, participant_id: str) -> Peer | None:
        return self._peers.get(participant_id)

    async def connect(self, participant_id: str, offer_sdp: str, events: PeerEvents) -> str:
        """A fresh peer connection for the participant (replacing any old one); the answer SDP."""
        await self.drop(participant_id)
        peer, answer = await open_peer(
            participant_id,
            offer_sdp,
            ice_servers=self.config.ice_servers,
            max_slots=self.config.max_slots,
            passthrough=self.config.mode is ForwardingMode.PASSTHROUGH,
        )
        peer.audio_only = self._audio_only.get(participant_id, False)
        self._peers[participant_id] = peer
        self._events[participant_id] = events
        self._spawn(self._watch(peer, events))
        return answer

    async def add_candidate(self, participant_id: str, msg: Candidate) -> bool:
        peer = self._peers.get(participant_id)
        if peer is None:
            return False
        await peer.add_candidate(msg)
        return True

    async def drop(self, participant_id: str) -> None:
        peer = self._peers.pop(participant_id, None)
        self._events.pop(participant_id, None)
        if peer is None:
            return
        await peer.close()
        await self._rebalance()

    async def set_audio_only(self, participant_id: str, enabled: bool) -> None:
        self._audio_only[participant_id] = enabled
        peer = self._peers.get(participant_id)
        if peer is not None:
            peer.audio_only = enabled
            _apply_audio_only(peer)

    def recorded_frames(self, participant_id: str, kind: str) -> int:
        """Frames of ``participant_id``'s ``kind`` in the running recording (0: none)."""
        return self._recorder.frames(participant_id, kind) if self._recorder else 0

    async def start_recording(self, path: Path) -> None:
        if self._recorder is not None:
            return
        self._recorder = self._recorder_factory(path)
        for peer in self._peers.values():
            if peer.connected:
                self._record(peer)

    async def stop_recording(self) -> Path | None:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return None
        for publication, sink in self._recording_sinks:
            publication.remove_listener(sink)
        self._recording_sinks.clear()
        return await recorder.close()

    async def close(self) -> None:
        for participant_id in list(self._peers):
            await self.drop(participant_id)
        await self.stop_recording()
        for task in list(self._tasks):
            task.cancel()

    def stats(self) -> dict[str, int]:
        """Frames received from publishers, forwarded to slots and dropped for slow subscribers."""
        received = sum(
            p.frames for peer in self._peers.values() for p in peer.publications.values()
        )
        slots = [s.track for peer in self._peers.values() for s in peer.slots]
        forwarded = sum(track.forwarded for track in slots)
        dropped = sum(track.dropped for track in slots)
        return {"received": received, "forwarded": forwarded, "dropped": dropped}

    async def _watch(self, peer: Peer, events: PeerEvents) -> None:
        ok = await wait_connected(peer, self.config.connect_timeout)
        if self._peers.get(peer.participant_id) is not peer:
            return
        if not ok:
            timed_out = peer.pc.connectionState not in ("failed", "closed")
            await self.drop(peer.participant_id)
            if timed_out:
                message = f"not connected within {self.config.connect_timeout:g} s"
                await events.failed(ErrorCode.CONNECT_TIMEOUT, message)
            else:
                await events.failed(ErrorCode.MEDIA_FAILED, "the peer connection failed")
            return
        peer.connected = True
        logger.info(
            "room %s: %s connected in %d ms", self.room_id, peer.participant_id, setup_ms(peer)
        )
        await events.connected(setup_ms(peer))
        peer.pc.on("connectionstatechange", lambda: self._spawn(self._check_lost(peer, events)))
        if self._recorder is not None:
            self._record(peer)
        await self._rebalance()

    async def _check_lost(self, peer: Peer, events: PeerEvents) -> None:
        if peer.pc.connectionState not in ("failed", "closed"):
            return
        if self._peers.get(peer.participant_id) is peer:
            await self.drop(peer.participant_id)
            await events.failed(ErrorCode.MEDIA_FAILED, "the peer connection was lost")

    async def _rebalance(self) -> None:
        """Give every connected participant's free slots to the others' publications."""
        live = [peer for peer in self._peers.values() if peer.connected]
        for subscriber in live:
            changed = False
            for kind in KINDS:
                wanted = [
                    p.publications[kind]
                    for p in live
                    if p is not subscriber and kind in p.publications
                ]
                changed |= _fill_slots(subscriber, kind, wanted)
            _apply_audio_only(subscriber)
            events = self._events.get(subscriber.participant_id)
            if changed and events is not None:
                await events.media_map(subscriber.slot_map())

    def _record(self, peer: Peer) -> None:
        assert self._recorder is not None
        for publication in peer.publications.values():
            if publication.passthrough:
                sink = self._recorder.sink(
                    peer.participant_id, publication.kind, publication.request_keyframe
                )
                publication.add_listener(sink)
                self._recording_sinks.append((publication, sink))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _fill_slots(subscriber: Peer, kind: str, wanted: list[Publication]) -> bool:
    changed = False
    slots = [s for s in subscriber.slots if s.kind == kind]
    for slot in slots:
        if slot.publication is not None and slot.publication not in wanted:
            slot.publication.detach(slot.track)
            slot.publication = None
            changed = True
    assigned = {id(s.publication) for s in slots if s.publication is not None}
    free = [s for s in slots if s.publication is None]
    for publication in wanted:
        if id(publication) in assigned or not free:
            continue
        slot = free.pop(0)
        slot.publication = publication
        publication.attach(slot.track, slot.mime_type)
        changed = True
    return changed


def _apply_audio_only(peer: Peer) -> None:
    for slot in peer.slots:
        if slot.kind == "video":
            slot.track.pause(peer.audio_only)
