"""CSV / text exports: columns of samples described by a per-device `CsvProfile`."""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

from ecg.errors import EcgFormatError
from ecg.leads import STANDARD_LEADS, normalise_lead_name
from ecg.readers._common import build_record
from ecg.record import MAX_FS, MIN_FS, EcgRecord


@dataclass(frozen=True)
class CsvProfile:
    """How one device writes its CSV export.

    Parameters
    ----------
    fs:
        Sampling rate in Hz.
    gain:
        Raw units per mV (1.0 when the file is already in mV, 1000.0 for microvolts).
    leads:
        Lead names of the signal columns, in order.
    delimiter:
        Column separator; ``None`` sniffs comma, semicolon, tab or whitespace.
    header_rows:
        Lines to skip before the samples (a header row of lead names counts).
    time_column:
        Whether the first column is a time stamp to be ignored.
    """

    fs: float
    gain: float = 1.0
    leads: tuple[str, ...] = STANDARD_LEADS
    delimiter: str | None = None
    header_rows: int = 0
    time_column: bool = False

    def __post_init__(self) -> None:
        if not MIN_FS <= self.fs <= MAX_FS:
            raise ValueError(f"CsvProfile fs={self.fs!r} outside {MIN_FS}-{MAX_FS} Hz")
        if not self.gain > 0 or not np.isfinite(self.gain):
            raise ValueError(f"CsvProfile gain={self.gain!r} must be positive")
        if not self.leads:
            raise ValueError("CsvProfile needs at least one lead name")
        if len({normalise_lead_name(n) for n in self.leads}) != len(self.leads):
            raise ValueError(f"CsvProfile lead names repeat: {self.leads!r}")
        if self.header_rows < 0:
            raise ValueError(f"CsvProfile header_rows={self.header_rows!r} is negative")


def _rows(text: str, profile: CsvProfile) -> list[list[str]]:
    lines = [ln for ln in text.splitlines()[profile.header_rows :] if ln.strip()]
    if not lines:
        raise EcgFormatError("CSV: no sample rows")
    delimiter = profile.delimiter
    if delimiter is None:
        delimiter = next((d for d in (",", ";", "\t") if d in lines[0]), None)
    if delimiter is None:
        return [ln.split() for ln in lines]
    return list(csv.reader(lines, delimiter=delimiter))


def read_csv(data: bytes, profile: CsvProfile) -> EcgRecord:
    """Read a CSV/text export with the sampling rate, gain and lead order of ``profile``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EcgFormatError("CSV: file is not UTF-8 text") from exc
    rows = _rows(text, profile)
    skip = 1 if profile.time_column else 0
    width = len(profile.leads) + skip
    for number, row in enumerate(rows, start=profile.header_rows + 1):
        if len(row) < width:
            raise EcgFormatError(
                f"CSV: line {number} has {len(row)} columns, profile expects {width}"
            )
    try:
        values = np.array([row[skip:width] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise EcgFormatError(f"CSV: non-numeric sample: {exc}") from exc
    if not np.isfinite(values).all():
        raise EcgFormatError("CSV: samples contain NaN or infinite values")
    return build_record(
        values.T / profile.gain, profile.fs, list(profile.leads), source_format="csv"
    )
