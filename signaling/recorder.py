"""Consented recording: forwarded frames muxed into one WebM file with PyAV, not re-encoded.

Each participant's VP8 video and Opus audio become one stream of the file, whenever they join,
leave or rejoin. During the call the frames go to one small spool file per stream (length-prefixed
records: presentation time, keyframe flag, bytes) in a ``.parts`` folder beside the target; at the
end they are merged by time into the WebM in a worker thread and the spool is removed. Codecs WebM
cannot carry (H.264) are left out and logged. Streams are aligned on the wall clock.
"""

from __future__ import annotations

import asyncio
import fractions
import heapq
import logging
import shutil
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

import av
import av.container

from signaling.bitstream import vp8_size
from signaling.passthrough import EncodedFrame

logger = logging.getLogger(__name__)

WEBM_CODECS: Mapping[str, str] = MappingProxyType({"video/vp8": "libvpx", "audio/opus": "libopus"})
RECORD = struct.Struct("<qI?")  # pts, length, keyframe


@dataclass
class _Track:
    name: str
    encoder: str
    clock_rate: int
    spool: BinaryIO
    path: Path
    size: tuple[int, int] | None = None
    last_pts: int = -1
    frames: int = 0


class _Sink:
    """One publication's frames into a track: its own clock offset, so a rejoin lines up."""

    def __init__(
        self, recorder: Recorder, key: tuple[str, str], request_keyframe: Callable[[], None]
    ) -> None:
        self._recorder = recorder
        self._key = key
        self._request_keyframe = request_keyframe
        self._offset: int | None = None

    def __call__(self, frame: EncodedFrame) -> None:
        track = self._recorder.track(self._key, frame)
        if track is None:
            return
        if self._offset is None:
            if not frame.keyframe:
                self._request_keyframe()
                return  # nothing before a keyframe can be decoded
            elapsed = time.monotonic() - self._recorder.started
            self._offset = int(elapsed * frame.clock_rate) - frame.timestamp
        if track.size is None and frame.mime_type == "video/vp8":
            track.size = vp8_size(frame.data)
        pts = frame.timestamp + self._offset
        if pts <= track.last_pts:
            return
        track.last_pts = pts
        track.spool.write(RECORD.pack(pts, len(frame.data), frame.keyframe) + frame.data)
        track.frames += 1


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.monotonic()
        self._parts = path.parent / f".{path.name}.parts"
        self._tracks: dict[tuple[str, str], _Track | None] = {}
        self._closed = False

    def sink(
        self, participant_id: str, kind: str, request_keyframe: Callable[[], None]
    ) -> Callable[[EncodedFrame], None]:
        """A frame listener for one publication of ``participant_id``'s audio or video.

        ``request_keyframe`` is called until the publication gives the file a keyframe.
        """
        return _Sink(self, (participant_id, kind), request_keyframe)

    def frames(self, participant_id: str, kind: str) -> int:
        """Frames of ``participant_id``'s ``kind`` written so far."""
        track = self._tracks.get((participant_id, kind))
        return track.frames if track is not None else 0

    def track(self, key: tuple[str, str], frame: EncodedFrame) -> _Track | None:
        if self._closed:
            return None
        if key not in self._tracks:
            self._tracks[key] = self._new_track(key, frame)
        return self._tracks[key]

    async def close(self) -> Path | None:
        """Finish the file; returns its path, or None when nothing was recorded."""
        if self._closed:
            return None
        self._closed = True
        tracks = [t for t in self._tracks.values() if t is not None]
        for track in tracks:
            track.spool.close()
        usable = [t for t in tracks if t.frames and (t.size or t.encoder == "libopus")]
        try:
            if not usable:
                return None
            written = await asyncio.to_thread(_mux, self.path, usable)
            logger.info("recording %s: %d frames", self.path, written)
            return self.path
        finally:
            await asyncio.to_thread(shutil.rmtree, self._parts, True)

    def _new_track(self, key: tuple[str, str], frame: EncodedFrame) -> _Track | None:
        encoder = WEBM_CODECS.get(frame.mime_type)
        if encoder is None:
            logger.warning("recording %s: leaving out %s (%s)", self.path, key, frame.mime_type)
            return None
        self._parts.mkdir(parents=True, exist_ok=True)
        path = self._parts / f"{len(self._tracks)}.{key[1]}"
        name = f"{key[0]} {key[1]}"
        return _Track(name, encoder, frame.clock_rate, path.open("wb"), path)


def _mux(target: Path, tracks: list[_Track]) -> int:
    """Merge the spooled tracks by time into one WebM (runs in a worker thread)."""
    written = 0
    with av.open(str(target), "w", format="webm") as container:
        streams = [_add_stream(container, track) for track in tracks]
        merged = heapq.merge(*(_timed(index, track) for index, track in enumerate(tracks)))
        for _, index, pts, key, data in merged:
            packet = av.Packet(data)
            packet.stream = streams[index]
            packet.pts = packet.dts = pts
            packet.time_base = fractions.Fraction(1, tracks[index].clock_rate)
            packet.is_keyframe = key
            container.mux(packet)
            written += 1
    return written


def _timed(index: int, track: _Track) -> Iterator[tuple[float, int, int, bool, bytes]]:
    for pts, key, data in _read(track.path):
        yield pts / track.clock_rate, index, pts, key, data


def _read(path: Path) -> Iterator[tuple[int, bool, bytes]]:
    with path.open("rb") as spool:
        while header := spool.read(RECORD.size):
            pts, length, key = RECORD.unpack(header)
            yield pts, key, spool.read(length)


def _add_stream(container: av.container.OutputContainer, track: _Track) -> av.stream.Stream:
    if track.encoder == "libopus":
        audio = container.add_stream("libopus", rate=48000)
        audio.layout = "stereo"
        audio.metadata["title"] = track.name
        return audio
    assert track.size is not None
    video = container.add_stream("libvpx", rate=30)
    video.width, video.height = track.size
    video.pix_fmt = "yuv420p"
    video.time_base = fractions.Fraction(1, track.clock_rate)
    video.metadata["title"] = track.name
    return video
