"""One participant's peer connection to the server: what it publishes, where it receives.

The participant offers: every m-line it sends on is a publication (at most one audio and one
video are used); every m-line it only receives on is a slot the server fills with another
participant's audio or video.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from signaling.forward import ForwardTrack
from signaling.passthrough import install_tap, negotiated_codec, on_keyframe_request
from signaling.protocol import Candidate, IceServer, MediaSlot
from signaling.publication import Publication

logger = logging.getLogger(__name__)


@dataclass
class Slot:
    mid: str
    kind: str
    mime_type: str
    track: ForwardTrack
    publication: Publication | None = None

    def describe(self) -> MediaSlot:
        owner = self.publication.publisher_id if self.publication is not None else None
        return MediaSlot(mid=self.mid, kind=self.kind, participant_id=owner)


@dataclass
class Peer:
    participant_id: str
    pc: RTCPeerConnection
    publications: dict[str, Publication] = field(default_factory=dict)
    slots: list[Slot] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    connected: bool = False
    audio_only: bool = False

    def slot_map(self) -> tuple[MediaSlot, ...]:
        return tuple(slot.describe() for slot in self.slots)

    async def add_candidate(self, msg: Candidate) -> None:
        if not msg.candidate:
            await self.pc.addIceCandidate(None)
            return
        candidate = candidate_from_sdp(msg.candidate.removeprefix("candidate:"))
        candidate.sdpMid = msg.sdp_mid
        candidate.sdpMLineIndex = msg.sdp_mline_index
        await self.pc.addIceCandidate(candidate)

    async def close(self) -> None:
        for publication in self.publications.values():
            publication.close()
        for slot in self.slots:
            if slot.publication is not None:
                slot.publication.detach(slot.track)
            slot.track.stop()
        await asyncio.shield(self.pc.close())  # aiortc may be closing it already


def rtc_configuration(servers: tuple[IceServer, ...]) -> RTCConfiguration:
    """Always explicit: aiortc's default would reach out to a public STUN server.

    Max-bundle: with aiortc's default "balanced" policy, a second m-line of a kind is tied to the
    first one's pre-bundle transport and never starts (aiortc 1.16.0).
    """
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in servers
        ],
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
    )


async def open_peer(
    participant_id: str,
    offer_sdp: str,
    *,
    ice_servers: tuple[IceServer, ...],
    max_slots: int,
    passthrough: bool,
) -> tuple[Peer, str]:
    """Answer the participant's offer; returns the peer and the answer SDP."""
    pc = RTCPeerConnection(rtc_configuration(ice_servers))
    peer = Peer(participant_id, pc)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in pc.getTransceivers():
            _classify(peer, transceiver, max_slots, passthrough)
        await pc.setLocalDescription(await pc.createAnswer())
    except BaseException:
        await peer.close()
        raise
    return peer, pc.localDescription.sdp


def _classify(
    peer: Peer, transceiver: RTCRtpTransceiver, max_slots: int, passthrough: bool
) -> None:
    codec = negotiated_codec(transceiver)
    kind = transceiver.kind
    if codec is None or transceiver.mid is None:
        return
    if transceiver.receiver.track is not None:  # the participant sends on this m-line
        if kind not in peer.publications:
            tap = install_tap(transceiver.receiver) if passthrough else None
            peer.publications[kind] = Publication(
                peer.participant_id, kind, transceiver.receiver, tap, codec.mimeType
            )
        return
    if sum(1 for s in peer.slots if s.kind == kind) >= max_slots:
        return
    track = ForwardTrack(kind)
    transceiver.direction = "sendonly"
    transceiver.sender.replaceTrack(track)
    on_keyframe_request(transceiver.sender, track.request_keyframe)
    peer.slots.append(Slot(transceiver.mid, kind, codec.mimeType.lower(), track))


def setup_ms(peer: Peer) -> int:
    return round((time.monotonic() - peer.started) * 1000)


async def wait_connected(peer: Peer, within: float) -> bool:
    """True once the peer connection is connected; False on failure or after ``within`` seconds."""
    done = asyncio.get_running_loop().create_future()

    def on_change() -> None:
        state = peer.pc.connectionState
        if state in ("connected", "failed", "closed") and not done.done():
            done.set_result(state == "connected")

    peer.pc.on("connectionstatechange", on_change)
    on_change()
    try:
        return bool(await asyncio.wait_for(done, within))
    except TimeoutError:
        return False
    finally:
        peer.pc.remove_listener("connectionstatechange", on_change)
