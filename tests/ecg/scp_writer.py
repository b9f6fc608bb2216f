"""A minimal SCP-ECG writer for tests: uncompressed rhythm data (no Huffman, no differences)."""

from __future__ import annotations

import binascii
import struct

import numpy as np

LEAD_IDS = {"I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8,
            "III": 61, "aVR": 62, "aVL": 63, "aVF": 64}  # fmt: skip


def _section(sid: int, body: bytes) -> bytes:
    header = struct.pack("<HI", sid, 16 + len(body)) + bytes([20, 20]) + b"\0" * 6
    content = header + body
    return struct.pack("<H", binascii.crc_hqx(content, 0xFFFF)) + content


def write_scp(samples_uv: np.ndarray, leads: tuple[str, ...], fs: float, sex: int = 2) -> bytes:
    """An SCP-ECG file with sections 0, 1, 3 and 6; samples in microvolts (5 uV steps)."""
    n_leads, n = samples_uv.shape
    raw = np.round(samples_uv / 5.0).astype("<i2")
    s1 = bytes([8]) + struct.pack("<H", 1) + bytes([sex]) + bytes([255, 0, 0])
    s3 = bytes([n_leads, 0x04 | (n_leads << 3) & 0xF8]) + b"".join(
        struct.pack("<IIB", 1, n, LEAD_IDS[name]) for name in leads
    )
    s6 = struct.pack("<HHBB", 5000, round(1e6 / fs), 0, 0)
    s6 += b"".join(struct.pack("<H", 2 * n) for _ in range(n_leads))
    s6 += b"".join(raw[i].tobytes() for i in range(n_leads))
    return assemble({1: s1, 3: s3, 6: s6})


def assemble(bodies: dict[int, bytes]) -> bytes:
    """An SCP-ECG file of these section bodies (ids 1..11), with its pointers and CRCs."""
    # pointer section: ids 0..11, offsets are 1-based from the file start
    offset = 6 + 16 + 12 * 10 + 1
    pointers = b""
    for sid in range(12):
        if sid == 0:
            pointers += struct.pack("<HII", 0, 16 + 12 * 10, 7)
        elif sid in bodies:
            length = 16 + len(bodies[sid])
            pointers += struct.pack("<HII", sid, length, offset)
            offset += length
        else:
            pointers += struct.pack("<HII", sid, 0, 0)
    record = _section(0, pointers) + b"".join(_section(k, bodies[k]) for k in sorted(bodies))
    total = 6 + len(record)
    content = struct.pack("<I", total) + record
    return struct.pack("<H", binascii.crc_hqx(content, 0xFFFF)) + content
