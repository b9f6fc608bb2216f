"""Pixel data checked against the image attributes before an instance is stored.

A file cut short and sent again by a tool that re-encodes it (pydicom reads a truncated file
without a word) arrives with every element length right and half of its pixels missing; so does
a data set whose Rows and Columns were raised. Native (uncompressed) pixel data must hold
Rows x Columns x Samples per Pixel x Bits Allocated x Number of Frames (PS3.5 8.1.1, 8.2);
encapsulated pixel data must be fragments, at least one a frame for image syntaxes (PS3.5
A.4), the walk (:mod:`imaging.walk`) having already checked that every item fits.
"""

from __future__ import annotations

from pydicom.uid import UID

from imaging.header import InstanceHeader
from imaging.walk import MalformedDataset, PixelElement

FLOAT_BITS = {0x7FE00008: 32, 0x7FE00009: 64}
"""Float and Double Float Pixel Data: the sample size is the VR's, not Bits Allocated."""
VIDEO_PREFIX = "1.2.840.10008.1.2.4.10"
"""MPEG-2, MPEG-4 AVC/H.264 and HEVC/H.265 (.100-.108): one stream for all frames."""


class PixelDataMismatch(MalformedDataset):
    """The pixel data does not fit the image attributes (missing, short, not fragments)."""


def check_pixels(header: InstanceHeader, element: PixelElement | None) -> None:
    """Raise :class:`PixelDataMismatch` unless ``element`` holds the image ``header`` names."""
    if element is None:
        if header.rows or header.columns:
            raise PixelDataMismatch("image attributes (Rows, Columns) without pixel data")
        return
    rows, columns = header.rows or 0, header.columns or 0
    if rows < 1 or columns < 1:
        raise PixelDataMismatch(f"pixel data with Rows {rows} and Columns {columns}")
    if _encapsulated(header.transfer_syntax, element):
        _check_fragments(header, element)
    else:
        _check_native(header, element)


def expected_length(header: InstanceHeader, tag: int = 0x7FE00010) -> int:
    """Bytes of native pixel data the image attributes call for (without the even padding)."""
    bits = FLOAT_BITS.get(tag) or header.bits_allocated or 0
    if bits < 1 or (bits != 1 and bits % 8):
        raise PixelDataMismatch(f"Bits Allocated {header.bits_allocated} is not 1 or n x 8")
    samples = header.samples_per_pixel or 1
    if samples not in (1, 3, 4):
        raise PixelDataMismatch(f"Samples per Pixel {samples} is not 1, 3 or 4")
    pixels = (header.rows or 0) * (header.columns or 0) * header.frames
    length = (pixels * samples * bits + 7) // 8
    if header.photometric == "YBR_FULL_422" and tag == 0x7FE00010:
        length = length // 3 * 2  # two samples of chroma per two pixels (PS3.3 C.7.6.3.1.2)
    return length


def _encapsulated(transfer_syntax: str, element: PixelElement) -> bool:
    uid = UID(transfer_syntax)
    if uid.is_transfer_syntax:
        encapsulated = bool(uid.is_encapsulated)
        if encapsulated != (element.length is None):
            kind = "encapsulated" if encapsulated else "native"
            raise PixelDataMismatch(
                f"{kind} transfer syntax {transfer_syntax} with "
                f"{'a defined' if encapsulated else 'an undefined'} pixel data length"
            )
        return encapsulated
    return element.length is None  # a syntax pydicom does not know: as it is encoded


def _check_native(header: InstanceHeader, element: PixelElement) -> None:
    expected = expected_length(header, element.tag)
    actual = element.length or 0
    if actual < expected:
        raise PixelDataMismatch(
            f"pixel data holds {actual} bytes; {header.rows} x {header.columns} x "
            f"{header.frames} frame(s) of {header.samples_per_pixel or 1} x "
            f"{header.bits_allocated} bits need {expected}"
        )


def _check_fragments(header: InstanceHeader, element: PixelElement) -> None:
    if element.tag != 0x7FE00010:
        raise PixelDataMismatch("float pixel data cannot be encapsulated")
    if element.fragments < 1 or element.fragment_bytes < 1:
        raise PixelDataMismatch("encapsulated pixel data without any fragment")
    video = header.transfer_syntax.startswith(VIDEO_PREFIX)
    if not video and element.fragments < header.frames:
        raise PixelDataMismatch(
            f"{element.fragments} fragment(s) for {header.frames} frames (a fragment holds "
            "one frame at most)"
        )
