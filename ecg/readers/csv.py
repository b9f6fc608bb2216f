"""CSV / text exports: columns of samples described by a per-device `CsvProfile`."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecg.errors import EcgFormatError
from ecg.leads import STANDARD_LEADS, normalise_lead_name
from ecg.readers._common import build_record
from ecg.readers.limits import NO_LIMITS, ReadLimits
from ecg.record import MAX_FS, MIN_FS, EcgRecord

CHUNK_ROWS = 4096


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


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` one at a time (never a list of them all, nor a copy of the text)."""
    newline = "\n" if "\n" in text else "\r"
    start = 0
    while start < len(text):
        end = text.find(newline, start)
        end = len(text) if end < 0 else end
        yield text[start:end].rstrip("\r")
        start = end + 1


def _data_lines(text: str, header_rows: int) -> Iterator[str]:
    """The non-blank lines after the header."""
    for index, line in enumerate(_lines(text)):
        if index >= header_rows and line.strip():
            yield line


def _rows(text: str, profile: CsvProfile) -> Iterator[list[str]]:
    lines = _data_lines(text, profile.header_rows)
    first = next(lines, None)
    if first is None:
        raise EcgFormatError("CSV: no sample rows")
    delimiter = profile.delimiter
    if delimiter is None:
        delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    every = itertools.chain([first], lines)
    if delimiter is None:
        return (ln.split() for ln in every)
    return csv.reader(every, delimiter=delimiter)


def _chunks(
    rows: Iterator[list[str]], profile: CsvProfile, limits: ReadLimits
) -> Iterator[npt.NDArray[np.float64]]:
    """The samples, :data:`CHUNK_ROWS` rows at a time, counted against ``limits`` as they come:
    a CSV export declares no length, so the reader stops at the limit instead."""
    skip = 1 if profile.time_column else 0
    width = len(profile.leads) + skip
    n_rows, chunk = 0, []
    for number, row in enumerate(rows, start=profile.header_rows + 1):
        if len(row) < width:
            raise EcgFormatError(
                f"CSV: line {number} has {len(row)} columns, profile expects {width}"
            )
        chunk.append(row[skip:width])
        if len(chunk) == CHUNK_ROWS:
            yield _values(chunk)
            n_rows, chunk = n_rows + len(chunk), []
            limits.check_duration(n_rows, profile.fs, at_least=True)
            limits.check_samples("the CSV export", n_rows * len(profile.leads))
    if chunk:
        yield _values(chunk)
    limits.check("the CSV export", len(profile.leads), n_rows + len(chunk), profile.fs)


def _values(chunk: list[list[str]]) -> npt.NDArray[np.float64]:
    try:
        return np.array(chunk, dtype=np.float64)
    except ValueError as exc:
        raise EcgFormatError(f"CSV: non-numeric sample: {exc}") from exc


def read_csv(data: bytes, profile: CsvProfile, limits: ReadLimits = NO_LIMITS) -> EcgRecord:
    """Read a CSV/text export with the sampling rate, gain and lead order of ``profile``.

    Rows are counted while they are parsed and the reading stops once they last longer, or
    hold more samples, than ``limits`` allow.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EcgFormatError("CSV: file is not UTF-8 text") from exc
    try:
        values = np.concatenate(list(_chunks(_rows(text, profile), profile, limits)))
    except csv.Error as exc:  # a stray carriage return or quote inside a row
        raise EcgFormatError(f"CSV 文件某行无法解析 / CSV: a row cannot be parsed: {exc}") from exc
    if not np.isfinite(values).all():
        raise EcgFormatError("CSV: samples contain NaN or infinite values")
    return build_record(
        values.T / profile.gain, profile.fs, list(profile.leads), source_format="csv"
    )
