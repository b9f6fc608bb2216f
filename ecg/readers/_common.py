"""Helpers shared by the readers: checked record construction and bounded byte access."""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from ecg.errors import EcgFormatError
from ecg.leads import order_leads
from ecg.record import DeviceInfo, EcgRecord, MachineMeasurements, PatientInfo


def build_record(
    samples: npt.NDArray[np.float64],
    fs: float,
    names: list[str],
    *,
    source_format: str,
    patient: PatientInfo | None = None,
    device: DeviceInfo | None = None,
    machine: MachineMeasurements | None = None,
) -> EcgRecord:
    """Order the leads and build an `EcgRecord`, turning its `ValueError` into `EcgFormatError`."""
    if samples.ndim != 2 or samples.shape[0] == 0:
        raise EcgFormatError(f"{source_format}: no leads found")
    if samples.shape[1] < 2:
        raise EcgFormatError(f"{source_format}: no samples found")
    ordered, ordered_names = order_leads(samples, names)
    try:
        return EcgRecord(
            samples=ordered,
            fs=fs,
            leads=tuple(ordered_names),
            patient=patient,
            device=device,
            machine=machine,
            source_format=source_format,
        )
    except ValueError as exc:
        raise EcgFormatError(f"{source_format}: {exc}") from exc


class ByteView:
    """Bounded little-endian reads from a byte string; overruns raise `EcgFormatError`."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.what = what

    def need(self, offset: int, size: int, field: str) -> None:
        """Raise unless ``size`` bytes exist at ``offset``."""
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise EcgFormatError(
                f"{self.what}: truncated: {field} needs bytes {offset}..{offset + size} "
                f"of a {len(self.data)}-byte file"
            )

    def u8(self, offset: int, field: str) -> int:
        """Unsigned byte."""
        self.need(offset, 1, field)
        return self.data[offset]

    def u16(self, offset: int, field: str) -> int:
        """Unsigned 16-bit little-endian."""
        self.need(offset, 2, field)
        return int(struct.unpack_from("<H", self.data, offset)[0])

    def i16(self, offset: int, field: str) -> int:
        """Signed 16-bit little-endian."""
        self.need(offset, 2, field)
        return int(struct.unpack_from("<h", self.data, offset)[0])

    def u32(self, offset: int, field: str) -> int:
        """Unsigned 32-bit little-endian."""
        self.need(offset, 4, field)
        return int(struct.unpack_from("<I", self.data, offset)[0])

    def bytes_at(self, offset: int, size: int, field: str) -> bytes:
        """A slice, checked."""
        self.need(offset, size, field)
        return self.data[offset : offset + size]
