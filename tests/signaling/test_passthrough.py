"""The aiortc adapter's guards, and the bitstream helpers it relies on."""

from __future__ import annotations

import aiortc
import pytest
from aiortc import RTCPeerConnection

from signaling import passthrough
from signaling.bitstream import is_keyframe, vp8_size
from signaling.peer import rtc_configuration

from .media_sources import _encode_gop


def test_refuses_an_unchecked_aiortc(monkeypatch: pytest.MonkeyPatch) -> None:
    passthrough.check_version()
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    with pytest.raises(passthrough.UnsupportedAiortc, match=r"1\.16\.0"):
        passthrough.check_version()


async def test_tap_is_installed_once_before_receiving() -> None:
    pc = RTCPeerConnection(rtc_configuration(()))
    receiver = pc.addTransceiver("video", direction="recvonly").receiver
    tap = passthrough.install_tap(receiver)
    with pytest.raises(RuntimeError, match="already tapped"):
        passthrough.install_tap(receiver)
    seen: list[object] = []
    tap.add_listener(seen.append)
    tap.put(None)  # what aiortc does when the receiver stops
    assert seen == [None]
    assert tap.ended
    assert tap.get(timeout=1) is None  # and aiortc's idle decoder thread is let go
    await pc.close()


def test_vp8_keyframes_and_sizes() -> None:
    gop = _encode_gop(320, 240, 300_000)
    assert is_keyframe("video/VP8", gop[0])
    assert vp8_size(gop[0]) == (320, 240)
    assert not any(is_keyframe("video/vp8", frame) for frame in gop[1:])
    assert vp8_size(gop[1]) is None
    assert is_keyframe("audio/opus", b"\x01")


def test_h264_idr_is_a_keyframe() -> None:
    sps_idr = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x65\x88"
    non_idr = b"\x00\x00\x00\x01\x41\x9a"
    assert is_keyframe("video/H264", sps_idr)
    assert not is_keyframe("video/H264", non_idr)
