"""One participant's published audio or video, fanned out to subscriber slots and listeners.

Subscribers whose negotiated codec matches get the encoded frames as they are; the others get
decoded frames through aiortc's MediaRelay and their sender encodes again (the only place where
media is decoded on the server).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame

from signaling.forward import ForwardTrack
from signaling.passthrough import EncodedFrame, EncodedTap, request_keyframe

logger = logging.getLogger(__name__)

KEYFRAME_INTERVAL = 0.25  # at most this often a PLI to the publisher, seconds

FrameSink = Callable[[EncodedFrame], None]


class Publication:
    def __init__(
        self,
        publisher_id: str,
        kind: str,
        receiver: RTCRtpReceiver,
        tap: EncodedTap | None,
        mime_type: str,
    ) -> None:
        self.publisher_id = publisher_id
        self.kind = kind
        self.mime_type = mime_type.lower()
        self._receiver = receiver
        self._tap = tap
        self._encoded: set[ForwardTrack] = set()
        self._listeners: list[FrameSink] = []
        self._relay: MediaRelay | None = None
        self._pumps: dict[ForwardTrack, asyncio.Task[None]] = {}
        self._last_keyframe_request = -KEYFRAME_INTERVAL
        self.frames = 0
        if tap is not None:
            tap.add_listener(self._on_frame)

    @property
    def passthrough(self) -> bool:
        return self._tap is not None

    @property
    def decoded(self) -> bool:
        """True once some subscriber needed decoded frames (the MediaRelay fallback)."""
        return self._relay is not None

    def attach(self, track: ForwardTrack, subscriber_mime: str) -> None:
        """Start forwarding to ``track``: encoded when the codecs match, else decoded."""
        track.switch(self, self.request_keyframe)
        if self._tap is not None and subscriber_mime.lower() == self.mime_type:
            self._encoded.add(track)
            return
        logger.info(
            "%s %s: relaying decoded (%s -> %s)",
            self.publisher_id,
            self.kind,
            self.mime_type,
            subscriber_mime,
        )
        self._pumps[track] = asyncio.ensure_future(self._pump(track, self._decoded_proxy()))

    def detach(self, track: ForwardTrack) -> None:
        self._encoded.discard(track)
        pump = self._pumps.pop(track, None)
        if pump is not None:
            pump.cancel()
        if track.source is self:
            track.switch(None, request_keyframe_noop)

    def add_listener(self, sink: FrameSink) -> None:
        self._listeners.append(sink)

    def remove_listener(self, sink: FrameSink) -> None:
        if sink in self._listeners:
            self._listeners.remove(sink)

    def request_keyframe(self) -> None:
        if self.kind != "video":
            return
        now = asyncio.get_running_loop().time()
        if now - self._last_keyframe_request < KEYFRAME_INTERVAL:
            return
        self._last_keyframe_request = now
        request_keyframe(self._receiver)

    def close(self) -> None:
        for track in list(self._encoded) + list(self._pumps):
            self.detach(track)
        self._listeners.clear()
        if self._tap is not None:
            self._tap.remove_listener(self._on_frame)

    def _on_frame(self, frame: EncodedFrame | None) -> None:
        if frame is None:
            return
        self.frames += 1
        for track in self._encoded:
            track.feed_encoded(self, frame)
        for sink in self._listeners:
            sink(frame)

    def _decoded_proxy(self) -> MediaStreamTrack:
        if self._relay is None:
            self._relay = MediaRelay()
            if self._tap is not None:
                self._tap.decoding = True
        return self._relay.subscribe(self._receiver.track, buffered=False)

    async def _pump(self, track: ForwardTrack, proxy: MediaStreamTrack) -> None:
        try:
            while True:
                item = await proxy.recv()
                if isinstance(item, Frame):
                    track.feed_decoded(self, item)
        except MediaStreamError:
            pass
        finally:
            proxy.stop()


def request_keyframe_noop() -> None:
    return None
