"""Instances sent in a transfer syntax the receiver accepted.

The archive keeps every instance as received, compressed ones included. A C-GET or C-MOVE
receiver that does not take the stored syntax gets the instance decompressed to Explicit VR
Little Endian (through the pydicom pixel-data plugins); between uncompressed syntaxes pynetdicom
converts by itself. Lossless decompression keeps the SOP Instance UID.
"""

from __future__ import annotations

from collections.abc import Collection

from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

UNCOMPRESSED = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian})
FALLBACK = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
"""What a retrieval proposes beside the stored syntax of a compressed instance."""


class NotConvertible(ValueError):
    """The receiver accepts none of the syntaxes the instance can be sent in."""


def proposals(stored: Collection[str]) -> list[str]:
    """Transfer syntaxes to propose for instances stored in ``stored``: those, then (if any
    is compressed) the uncompressed ones it can be converted to."""
    syntaxes = list(dict.fromkeys(stored))
    if any(UID(s) not in UNCOMPRESSED for s in syntaxes):
        syntaxes += [s for s in FALLBACK if s not in syntaxes]
    return syntaxes


def fit(ds: Dataset, accepted: Collection[str]) -> Dataset:
    """``ds`` in a syntax among ``accepted`` (decompressed in place if it must be).

    Raises
    ------
    NotConvertible
        Compressed, and the receiver takes neither it nor an uncompressed syntax; or the pixel
        data cannot be decoded.
    """
    stored = UID(str(ds.file_meta.TransferSyntaxUID))
    if stored in accepted or stored in UNCOMPRESSED:
        return ds  # as stored; pynetdicom converts between uncompressed syntaxes
    if not UNCOMPRESSED.intersection(accepted):
        raise NotConvertible(f"the receiver accepts neither {stored.name} nor uncompressed")
    try:
        ds.decompress(generate_instance_uid=False)
    except Exception as exc:  # a plugin's failure, whatever its type: not sendable
        raise NotConvertible(f"{stored.name} could not be decoded: {exc}") from exc
    return ds
