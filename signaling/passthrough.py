"""The one place that touches aiortc's private internals, for forwarding encoded media.

aiortc 1.16.0's :class:`RTCRtpReceiver` always hands complete encoded frames (after its jitter
buffer, NACK and RTX handling) to a decoder thread through a ``queue.Queue`` it keeps in the
name-mangled attribute ``_RTCRtpReceiver__decoder_queue``; that thread is created in ``receive()``
with the queue object as an argument. :func:`install_tap` swaps that queue, before ``receive()``
runs, for an :class:`EncodedTap`: the receiver's ``put((codec, JitterFrame))`` calls (made on the
event loop) go to our listeners as :class:`EncodedFrame`; the decoder thread blocks on the tap's
``get()`` and only sees frames while decoding is switched on (the MediaRelay fallback for
subscribers whose codec differs), and the ``None`` that ends it.

The sending side needs no private API to skip the encoder: a track whose ``recv()`` returns an
``av.Packet`` is packetized by the codec's ``pack()``. Two small private hooks remain here:
keyframe requests (PLI/FIR) arriving at a sender call ``sender._send_keyframe()``, which
:func:`on_keyframe_request` redirects to us; and :func:`request_keyframe` sends a PLI to a
publisher through ``receiver._send_rtcp_pli``. :func:`negotiated_codec` reads
``transceiver._codecs``. Everything is guarded by :func:`check_version`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiortc
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from signaling.bitstream import is_keyframe

logger = logging.getLogger(__name__)

SUPPORTED_AIORTC = "1.16.0"
_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_STARTED_ATTR = "_RTCRtpReceiver__started"


class UnsupportedAiortc(RuntimeError):
    pass


def check_version() -> None:
    """Refuse to run over an aiortc whose internals were not checked against this module."""
    if aiortc.__version__ != SUPPORTED_AIORTC:
        raise UnsupportedAiortc(
            f"signaling.passthrough was written for aiortc {SUPPORTED_AIORTC}, "
            f"found {aiortc.__version__}: re-check rtcrtpreceiver.py and rtcrtpsender.py"
        )


@dataclass(frozen=True)
class EncodedFrame:
    """One complete encoded frame as it came off the wire, depayloaded."""

    mime_type: str  # lower case, e.g. "video/vp8"
    clock_rate: int
    data: bytes
    timestamp: int  # RTP clock units, counted from the stream's first frame
    keyframe: bool


FrameListener = Callable[[EncodedFrame | None], None]  # None: the stream ended


class EncodedTap:
    """Stands in for a receiver's decoder queue: a ``put`` side (loop) and a ``get`` side (thread).

    Listeners are called synchronously on the event loop for each frame and with ``None`` when the
    receiver stops. ``decoding`` sends frames on to aiortc's decoder thread as well.
    """

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        self._receiver = receiver
        self._thread_side: queue.Queue[Any] = queue.Queue()
        self._listeners: list[FrameListener] = []
        self._ended = False
        self.decoding = False
        self.codec: RTCRtpCodecParameters | None = None

    # --- the two methods aiortc calls -----------------------------------------------------------

    def put(self, item: Any) -> None:
        if item is None:
            self._end()
            return
        codec, jitter_frame = item
        self.codec = codec
        if self.decoding:
            self._thread_side.put(item)
        frame = EncodedFrame(
            mime_type=codec.mimeType.lower(),
            clock_rate=codec.clockRate,
            data=jitter_frame.data,
            timestamp=jitter_frame.timestamp,
            keyframe=is_keyframe(codec.mimeType, jitter_frame.data),
        )
        for listener in list(self._listeners):
            listener(frame)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        return self._thread_side.get(block, timeout)

    # --- ours -----------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._ended

    def add_listener(self, listener: FrameListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: FrameListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def request_keyframe(self) -> None:
        request_keyframe(self._receiver)

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._thread_side.put(None)  # lets aiortc's decoder thread finish
        for listener in list(self._listeners):
            listener(None)
        self._listeners.clear()


def install_tap(receiver: RTCRtpReceiver) -> EncodedTap:
    """Divert ``receiver``'s encoded frames to a tap; call before the connection starts it."""
    check_version()
    if getattr(receiver, _STARTED_ATTR):
        raise RuntimeError("install_tap must run before RTCRtpReceiver.receive()")
    if not isinstance(getattr(receiver, _QUEUE_ATTR), queue.Queue):
        raise RuntimeError("receiver already tapped")
    tap = EncodedTap(receiver)
    setattr(receiver, _QUEUE_ATTR, tap)
    return tap


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Also call ``callback`` when the remote end asks ``sender`` for a keyframe (PLI or FIR).

    aiortc's own handling (forcing its encoder's next frame to be a keyframe) still runs, for
    slots that re-encode.
    """
    check_version()
    original = sender._send_keyframe

    def both() -> None:
        original()
        callback()

    sender._send_keyframe = both  # type: ignore[method-assign]


def request_keyframe(receiver: RTCRtpReceiver) -> None:
    """Send a PLI for the stream ``receiver`` gets (no-op before any packet has arrived)."""
    sources = receiver.getSynchronizationSources()
    if not sources:
        return
    ssrc = max(sources, key=lambda s: s.timestamp).source
    task = asyncio.ensure_future(receiver._send_rtcp_pli(ssrc))
    task.add_done_callback(_log_failure)


def negotiated_codec(transceiver: RTCRtpTransceiver) -> RTCRtpCodecParameters | None:
    """The codec the transceiver sends and expects first (after setRemoteDescription)."""
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    return codecs[0] if codecs else None


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("keyframe request failed: %s", task.exception())
