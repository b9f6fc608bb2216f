"""Small media sources for room tests and the bench."""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack, VideoStreamTrack
from av import VideoFrame

FPS = 30


class SmallVideo(VideoStreamTrack):
    """A moving grey pattern at 30 fps, small enough to keep test encoders cheap."""

    def __init__(self, width: int = 160, height: int = 120) -> None:
        super().__init__()
        self._image = np.zeros((height, width, 3), dtype=np.uint8)
        self._count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        self._count += 1
        self._image[:, :, :] = (self._count * 7) % 255
        self._image[:8, : (self._count % self._image.shape[1]), 0] = 255
        frame = VideoFrame.from_ndarray(self._image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class EncodedVideo(MediaStreamTrack):
    """Pre-encoded VP8 at 30 fps: one second's GOP encoded once, then sent in a loop.

    aiortc's sender packetizes ``av.Packet``s without encoding, so a publisher costs almost no
    CPU: the bench then measures the server, not the machine's spare cycles for encoders.
    """

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, bitrate: int = 500_000) -> None:
        super().__init__()
        self._gop = _encode_gop(width, height, bitrate)
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._index / FPS - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(self._gop[self._index % len(self._gop)])
        packet.pts = self._index * (90000 // FPS)
        packet.time_base = fractions.Fraction(1, 90000)
        self._index += 1
        return packet


def _encode_gop(width: int, height: int, bitrate: int) -> list[bytes]:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = bitrate
    codec.time_base = fractions.Fraction(1, FPS)
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "bufsize": str(bitrate),
    }
    noise = np.random.default_rng(7)
    payloads: list[bytes] = []
    for index in range(FPS):
        image = (noise.integers(0, 6, (height, width, 3)) + index * 4).astype(
            np.uint8
        )  # some detail
        frame = VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        frame.pict_type = (
            av.video.frame.PictureType.I if index == 0 else av.video.frame.PictureType.NONE
        )
        payloads.extend(bytes(p) for p in codec.encode(frame))
    payloads.extend(bytes(p) for p in codec.encode(None))
    return payloads[:FPS]
