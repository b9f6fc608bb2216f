"""A Python room participant: a real aiortc peer connection over the room WebSocket.

Used by the tests and the bench, and a worked example of the protocol in PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, TypeVar

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from signaling import protocol as p
from signaling.passthrough import EncodedFrame, EncodedTap, install_tap
from signaling.peer import rtc_configuration

M = TypeVar("M", bound=p.Message)


class RoomClient:
    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self._http = http
        self._url = url
        self._token = token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.closed = asyncio.Event()
        self.pc: RTCPeerConnection | None = None
        self.inbox: asyncio.Queue[p.Message] = asyncio.Queue()
        self.frames: dict[str, int] = defaultdict(int)  # by mid, decoded on this side
        self.media_map: dict[str, p.MediaSlot] = {}
        self.offer_sent_at = 0.0
        self.connected_after: float | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    async def open(self, *, header: bool = True) -> None:
        if header:
            headers = {"Authorization": f"Bearer {self._token}"}
            self.ws = await self._http.ws_connect(self._url, headers=headers)
        else:
            self.ws = await self._http.ws_connect(f"{self._url}?token={self._token}")
        self._tasks.append(asyncio.ensure_future(self._read()))

    async def send(self, msg: p.Message) -> None:
        assert self.ws is not None
        await self.ws.send_str(p.encode(msg))

    async def send_raw(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(text)

    async def expect(self, cls: type[M], within: float = 10.0) -> M:
        """The next message of type ``cls``; other messages are skipped."""
        async with asyncio.timeout(within):
            while True:
                msg = await self.inbox.get()
                if isinstance(msg, cls):
                    return msg

    async def join(self, name: str = "") -> p.Message:
        await self.send(p.Join(display_name=name))
        async with asyncio.timeout(10):
            while True:
                msg = await self.inbox.get()
                if isinstance(msg, p.Joined | p.Lobby | p.Error):
                    return msg

    async def start_media(
        self,
        slots: int,
        tracks: list[MediaStreamTrack],
        config: RTCConfiguration | None = None,
        *,
        decode: bool = True,
        prefer: Mapping[str, str] | None = None,
    ) -> None:
        """Offer a fresh peer connection: ``tracks`` out, ``slots`` receive slots per kind.

        ``decode=False`` counts complete encoded frames instead of decoding them (the bench: a
        client machine that decodes many streams measures itself, not the server). ``prefer``
        maps a kind to the one codec (MIME type) to send it with, e.g. ``{"video": "video/H264"}``.
        """
        if self.pc is not None:
            await asyncio.shield(self.pc.close())  # aiortc may be closing it already
        pc = RTCPeerConnection(config or rtc_configuration(()))
        self.pc = pc
        for track in tracks:
            sender = pc.addTrack(track)
            if prefer and track.kind in prefer:
                _prefer(pc, sender, prefer[track.kind])
        for kind in ("audio", "video"):
            for _ in range(slots):
                pc.addTransceiver(kind, direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        if decode:
            pc.on("track", lambda track: self._count(pc, track))
        else:
            for transceiver in pc.getTransceivers():
                if transceiver.direction == "recvonly":
                    self._count_encoded(str(transceiver.mid), install_tap(transceiver.receiver))
        self.offer_sent_at = time.monotonic()
        await self.send(p.Offer(sdp=pc.localDescription.sdp))
        answer = await self.expect(p.Answer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))

    def received(self, participant_id: str, kind: str) -> int:
        """Frames received here from ``participant_id``'s ``kind`` (per the latest media map)."""
        for mid, slot in self.media_map.items():
            if slot.participant_id == participant_id and slot.kind == kind:
                return self.frames[mid]
        return 0

    async def wait_received(
        self, participant_id: str, kind: str, count: int, within: float = 10.0
    ) -> int:
        async with asyncio.timeout(within):
            while self.received(participant_id, kind) < count:  # noqa: ASYNC110 (polled counter)
                await asyncio.sleep(0.05)
        return self.received(participant_id, kind)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.pc is not None:
            await asyncio.shield(self.pc.close())  # aiortc may be closing it already
        if self.ws is not None:
            await self.ws.close()

    def _count_encoded(self, mid: str, tap: EncodedTap) -> None:
        def count(frame: EncodedFrame | None) -> None:
            if frame is not None:
                self.frames[mid] += 1

        tap.add_listener(count)

    def _count(self, pc: RTCPeerConnection, track: Any) -> None:
        mid = next(t.mid for t in pc.getTransceivers() if t.receiver.track is track)
        self._tasks.append(asyncio.ensure_future(self._drain(str(mid), track)))

    async def _drain(self, mid: str, track: Any) -> None:
        try:
            while True:
                await track.recv()
                self.frames[mid] += 1
        except MediaStreamError:
            pass

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            msg = p.decode(frame.data)
            if isinstance(msg, p.MediaMap):
                self.media_map = {slot.mid: slot for slot in msg.slots}
            if isinstance(msg, p.Connected) and self.connected_after is None:
                self.connected_after = time.monotonic() - self.offer_sent_at
            await self.inbox.put(msg)
        self.closed.set()


def _prefer(pc: RTCPeerConnection, sender: RTCRtpSender, mime_type: str) -> None:
    (transceiver,) = [t for t in pc.getTransceivers() if t.sender is sender]
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind)
    chosen = [c for c in capabilities.codecs if c.mimeType.lower() == mime_type.lower()]
    if not chosen:
        raise ValueError(f"no codec {mime_type!r}")
    transceiver.setCodecPreferences(chosen[:1])
