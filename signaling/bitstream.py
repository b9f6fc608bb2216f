"""Just enough of the VP8 and H.264 bitstreams to find keyframes and picture sizes."""

from __future__ import annotations

H264_IDR = 5
H264_SPS = 7


def is_keyframe(mime_type: str, data: bytes) -> bool:
    """True for a frame a decoder can start from; audio frames always are."""
    kind, _, name = mime_type.lower().partition("/")
    if kind == "audio":
        return True
    if name == "vp8":
        return bool(data) and data[0] & 0x01 == 0  # the frame tag's inverted key_frame bit
    if name == "h264":
        return any(t in (H264_IDR, H264_SPS) for t in _h264_nal_types(data))
    return False


def vp8_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a VP8 keyframe header, else None (RFC 6386 section 9.1)."""
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return width, height


def _h264_nal_types(data: bytes) -> list[int]:
    types = []
    pos = data.find(b"\x00\x00\x01")
    while pos != -1 and pos + 3 < len(data):
        types.append(data[pos + 3] & 0x1F)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return types
