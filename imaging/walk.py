"""Walking an encoded data set element by element, lengths only (values are skipped).

:func:`check_structure` refuses a truncated or malformed stream before anything is parsed or
written, in either byte order; a deflated data set is walked once inflated (:func:`inflate`,
within a bound). :func:`pixel_element` then describes the top-level pixel data the walk found, for
:mod:`imaging.pixels` to check against the image attributes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Collection
from dataclasses import dataclass

from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xE000, 0xE00D, 0xE0DD
MAX_DEPTH = 16
MAX_INFLATED = 512 * 1024 * 1024
"""The most a deflated data set may expand to."""
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
"""Float Pixel Data, Double Float Pixel Data, Pixel Data."""
OTHER_IDS_SEQUENCE = 0x00101002


class MalformedDataset(ValueError):
    """The data set cannot be parsed (truncated, bad lengths, missing identifiers)."""


@dataclass(frozen=True)
class _Order:
    tag: struct.Struct
    u16: struct.Struct
    u32: struct.Struct
    item: struct.Struct


def _order(prefix: str) -> _Order:
    return _Order(*(struct.Struct(prefix + f) for f in ("HH", "H", "I", "HHI")))


LITTLE, BIG = _order("<"), _order(">")


@dataclass(frozen=True)
class PixelElement:
    """The top-level pixel data element of a data set, as encoded."""

    tag: int
    length: int | None
    """The value length; None when undefined (encapsulated)."""
    fragments: int = 0
    """Encapsulated: the fragments after the Basic Offset Table."""
    fragment_bytes: int = 0


def check_structure(
    data: bytes | memoryview,
    transfer_syntax: str,
    found: dict[int, bytes] | None = None,
    wanted: Collection[int] = (),
) -> int:
    """Raise :class:`MalformedDataset` unless every element of ``data`` fits in it.

    Returns the offset of the top-level pixel data element (the length of ``data`` without
    one): the header before it is all the index needs. With ``found``, the raw values of the
    top-level ``wanted`` tags are collected on the way (an Other Patient IDs Sequence is noted
    with an empty value). A deflated data set must be inflated first.
    """
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        raise ValueError("inflate a deflated data set before walking it")
    view = memoryview(data)
    walk = _Walk(
        view,
        explicit=transfer_syntax != ImplicitVRLittleEndian,
        order=BIG if transfer_syntax == ExplicitVRBigEndian else LITTLE,
        found=found,
        wanted=wanted,
    )
    end = walk.elements(0, len(view), 0, until_item_end=False, top=True)
    if end != len(view):
        raise MalformedDataset(f"stray bytes after the data set at offset {end}")
    return walk.pixel_offset if walk.pixel_offset is not None else len(view)


def walk_syntax(transfer_syntax: str) -> str:
    """The syntax the walk reads a data set of ``transfer_syntax`` in (deflated: inflated)."""
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        return "1.2.840.10008.1.2.1"
    return transfer_syntax


def inflate(data: bytes | memoryview, limit: int = MAX_INFLATED) -> bytes:
    """The data set of a Deflated Explicit VR Little Endian stream, at most ``limit`` bytes
    (a small stream must not expand into all of memory)."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise MalformedDataset(f"deflated data set does not inflate: {exc}") from None
    if inflater.unconsumed_tail:
        raise MalformedDataset(f"deflated data set expands beyond {limit} bytes")
    if not inflater.eof:
        raise MalformedDataset("deflated data set is truncated")
    return out


def pixel_element(
    data: bytes | memoryview, offset: int, transfer_syntax: str
) -> PixelElement | None:
    """The pixel data element at ``offset`` (from :func:`check_structure`); None without one."""
    view = memoryview(data)
    if offset >= len(view):
        return None
    order = BIG if transfer_syntax == ExplicitVRBigEndian else LITTLE
    group, elem = order.tag.unpack_from(view, offset)
    if transfer_syntax == ImplicitVRLittleEndian:
        length, pos = order.u32.unpack_from(view, offset + 4)[0], offset + 8
    elif bytes(view[offset + 4 : offset + 6]) in LONG_VRS:
        length, pos = order.u32.unpack_from(view, offset + 8)[0], offset + 12
    else:  # a pixel data element with a short VR: its (16-bit) length is what it is
        length, pos = order.u16.unpack_from(view, offset + 6)[0], offset + 8
    tag = group << 16 | elem
    if length != UNDEFINED:
        return PixelElement(tag, length)
    fragments = size = 0
    first = True
    while True:  # the walk checked that every item fits and the delimiter is there
        group, elem, length = order.item.unpack_from(view, pos)
        pos += 8
        if elem == SEQ_END:
            return PixelElement(tag, None, fragments, size)
        if length == UNDEFINED:
            raise MalformedDataset("an encapsulated pixel data item has an undefined length")
        if not first:
            fragments += 1
            size += length
        first = False
        pos += length


class _Walk:
    def __init__(
        self,
        buf: memoryview,
        *,
        explicit: bool,
        order: _Order,
        found: dict[int, bytes] | None,
        wanted: Collection[int],
    ) -> None:
        self.buf, self.explicit, self.o = buf, explicit, order
        self.found, self.wanted = found, wanted
        self.pixel_offset: int | None = None

    def elements(self, pos: int, end: int, depth: int, *, until_item_end: bool, top: bool) -> int:
        if depth > MAX_DEPTH:
            raise MalformedDataset("sequences nested too deep")
        buf, o, explicit = self.buf, self.o, self.explicit
        while pos < end:
            if pos + 8 > end:
                raise MalformedDataset(f"truncated element header at offset {pos}")
            group, elem = o.tag.unpack_from(buf, pos)
            if group == 0xFFFE:
                if elem == ITEM_END and until_item_end:
                    return pos + 8
                raise MalformedDataset(f"unexpected delimiter ({group:04X},{elem:04X}) at {pos}")
            tag = group << 16 | elem
            if top and self.pixel_offset is None and tag in PIXEL_TAGS:
                self.pixel_offset = pos
            vr = bytes(buf[pos + 4 : pos + 6]) if explicit else b""
            if explicit and vr in LONG_VRS:
                if pos + 12 > end:
                    raise MalformedDataset(f"truncated element header at offset {pos}")
                length, header = o.u32.unpack_from(buf, pos + 8)[0], 12
            elif explicit:
                if not vr.isalpha():
                    raise MalformedDataset(f"invalid VR {vr!r} at offset {pos}")
                length, header = o.u16.unpack_from(buf, pos + 6)[0], 8
            else:
                length, header = o.u32.unpack_from(buf, pos + 4)[0], 8
            pos += header
            if top and self.found is not None:
                if tag in self.wanted and length != UNDEFINED and pos + length <= end:
                    self.found[tag] = bytes(buf[pos : pos + length])
                elif tag == OTHER_IDS_SEQUENCE:
                    self.found[tag] = b""
            if length == UNDEFINED:
                pos = self.items(pos, end, depth + 1)
            elif pos + length > end:
                raise MalformedDataset(
                    f"element ({group:04X},{elem:04X}) claims {length} bytes, {end - pos} remain"
                )
            else:
                pos += length
        if until_item_end:
            raise MalformedDataset("item without its delimiter")
        return pos

    def items(self, pos: int, end: int, depth: int) -> int:
        """Skip the items of an undefined-length sequence (or encapsulated pixel data)."""
        while True:
            if pos + 8 > end:
                raise MalformedDataset("sequence without its delimiter (truncated)")
            group, elem, length = self.o.item.unpack_from(self.buf, pos)
            pos += 8
            if group != 0xFFFE:
                raise MalformedDataset(f"expected an item at offset {pos - 8}")
            if elem == SEQ_END:
                return pos
            if elem != ITEM:
                raise MalformedDataset(f"unexpected ({group:04X},{elem:04X}) in a sequence")
            if length == UNDEFINED:
                pos = self.elements(pos, end, depth + 1, until_item_end=True, top=False)
            elif pos + length > end:
                raise MalformedDataset(f"item claims {length} bytes, {end - pos} remain")
            else:
                pos += length
