"""Huffman decoding of SCP-ECG section 6 data (default table 19999 or tables of section 2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecg.errors import EcgFormatError


@dataclass(frozen=True)
class HuffmanCode:
    """One code structure: prefix length, total length, mode switch, base value and code."""

    prefix_bits: int
    total_bits: int
    mode: int
    value: int
    code: int  # prefix bits, most significant bit first


def default_table() -> tuple[HuffmanCode, ...]:
    """The SCP-ECG default table: 0, +-1..+-8 by unary-like codes, then 8- and 16-bit escapes."""
    codes = [HuffmanCode(1, 1, 1, 0, 0b0)]
    for magnitude in range(1, 9):
        bits = magnitude + 2
        ones = (1 << magnitude) - 1  # `magnitude` ones, a zero, then the sign bit
        codes.append(HuffmanCode(bits, bits, 1, magnitude, ones << 2))
        codes.append(HuffmanCode(bits, bits, 1, -magnitude, (ones << 2) | 1))
    codes.append(HuffmanCode(10, 18, 1, 8, 0b1111111110))
    codes.append(HuffmanCode(10, 26, 1, 16, 0b1111111111))
    return tuple(codes)


def _lookup(table: tuple[HuffmanCode, ...]) -> dict[tuple[int, int], HuffmanCode]:
    return {(c.prefix_bits, c.code): c for c in table}


def decode(data: bytes, n_samples: int, table: tuple[HuffmanCode, ...]) -> npt.NDArray[np.int64]:
    """Decode ``n_samples`` values from ``data`` (bits MSB-first) with one Huffman table.

    Codes whose total length exceeds the prefix carry the value in the following
    ``total - prefix`` bits, two's complement, as the standard's escape codes do.
    """
    if n_samples > 8 * len(data):  # every code is at least one bit: refuse before allocating
        raise EcgFormatError(
            f"SCP-ECG: {n_samples} samples declared in {len(data)} bytes of Huffman data"
        )
    lookup = _lookup(table)
    max_prefix = max(c.prefix_bits for c in table)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).tolist()
    n_bits = len(bits)
    out = np.zeros(n_samples, dtype=np.int64)
    pos = 0
    for k in range(n_samples):
        code = 0
        length = 0
        found: HuffmanCode | None = None
        while length < max_prefix:
            if pos + length >= n_bits:
                raise EcgFormatError(f"SCP-ECG: Huffman data end after {k} of {n_samples} samples")
            code = (code << 1) | bits[pos + length]
            length += 1
            found = lookup.get((length, code))
            if found is not None:
                break
        if found is None:
            raise EcgFormatError(f"SCP-ECG: invalid Huffman code at bit {pos}")
        pos += length
        extra = found.total_bits - found.prefix_bits
        if extra == 0:
            out[k] = found.value
            continue
        if pos + extra > n_bits:
            raise EcgFormatError(f"SCP-ECG: Huffman data end after {k} of {n_samples} samples")
        value = 0
        for bit in bits[pos : pos + extra]:
            value = (value << 1) | bit
        if value >= 1 << (extra - 1):
            value -= 1 << extra
        out[k] = value
        pos += extra
    return out
