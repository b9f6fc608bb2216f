"""The track behind one receive slot of a subscriber: forwarded frames in, aiortc's sender out.

Encoded frames become ``av.Packet``s, which aiortc's sender packetizes without encoding. Decoded
frames (the MediaRelay fallback) are passed through and encoded by the sender as usual. Whoever
the slot forwards, timestamps stay continuous for the subscriber, and a new or resumed video
source is held back until a keyframe so the subscriber's decoder can start cleanly.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame

from signaling.passthrough import EncodedFrame

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 30
NOMINAL_FRAME_SECONDS: Mapping[str, float] = MappingProxyType({"audio": 0.020, "video": 1 / 30})

Item = av.Packet | Frame


class ForwardTrack(MediaStreamTrack):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_LIMIT)
        self._source: object | None = None
        self._offset = 0
        self._last_pts: int | None = None
        self._need_keyframe = kind == "video"
        self._paused = False
        self._rebase_next = True
        self._time_base = fractions.Fraction(1, 90000 if kind == "video" else 48000)
        self._keyframe_request: Callable[[], None] = _nothing
        self.forwarded = 0
        self.dropped = 0

    @property
    def source(self) -> object | None:
        return self._source

    def switch(self, source: object | None, keyframe_request: Callable[[], None]) -> None:
        """Forward from ``source`` from now on (None: nobody); its frames restart the timeline."""
        self._source = source
        self._keyframe_request = keyframe_request if source is not None else _nothing
        self._offset = 0
        self._rebase_next = True
        self._need_keyframe = self.kind == "video"
        if source is not None and self._need_keyframe:
            keyframe_request()

    def pause(self, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        if not paused and self.kind == "video":
            self._need_keyframe = True
            self._keyframe_request()

    def request_keyframe(self) -> None:
        """The subscriber asked for a keyframe (PLI/FIR): pass it to the source."""
        self._keyframe_request()

    def feed_encoded(self, source: object, frame: EncodedFrame) -> None:
        if source is not self._source or self._paused or not self._accept(frame.keyframe):
            return
        packet = av.Packet(frame.data)
        if self._time_base.denominator != frame.clock_rate:
            self._time_base = fractions.Fraction(1, frame.clock_rate)
        packet.time_base = self._time_base
        packet.pts = self._rebase(frame.timestamp, frame.clock_rate)
        self._push(packet)

    def feed_decoded(self, source: object, frame: Frame) -> None:
        if source is not self._source or self._paused or frame.pts is None:
            return
        rate = int(1 / frame.time_base) if frame.time_base else 90000
        frame.pts = self._rebase(frame.pts, rate)
        self._push(frame)

    async def recv(self) -> Item:
        if self.readyState != "live":
            raise MediaStreamError
        return await self._queue.get()

    def _accept(self, keyframe: bool) -> bool:
        if self._need_keyframe and not keyframe:
            self._keyframe_request()  # again: the source throttles these
            return False
        self._need_keyframe = False
        return True

    def _rebase(self, timestamp: int, clock_rate: int) -> int:
        if self._rebase_next:
            step = int(NOMINAL_FRAME_SECONDS[self.kind] * clock_rate)
            start = 0 if self._last_pts is None else self._last_pts + step
            self._offset = start - timestamp
            self._rebase_next = False
        pts = timestamp + self._offset
        self._last_pts = pts
        return pts

    def _push(self, item: Item) -> None:
        if self._queue.full():
            self._queue.get_nowait()  # a slow subscriber loses the oldest frame, not the newest
            self.dropped += 1
            if self.kind == "video":
                self._need_keyframe = True
                self._keyframe_request()
                return
        self._queue.put_nowait(item)
        self.forwarded += 1


def _nothing() -> None:
    return None
