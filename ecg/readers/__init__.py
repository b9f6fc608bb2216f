"""ECG readers: one module a format, and `read_ecg` which sniffs the format of uploaded bytes."""

from __future__ import annotations

import logging
import math

from ecg.errors import EcgFormatError, EcgTooLong
from ecg.readers.aecg import read_aecg
from ecg.readers.csv import CsvProfile, read_csv
from ecg.readers.dicom import read_dicom
from ecg.readers.limits import NO_LIMITS, ReadLimits
from ecg.readers.scp import read_scp
from ecg.readers.wfdb import read_wfdb_files, read_wfdb_record, read_wfdb_zip
from ecg.record import EcgRecord

logger = logging.getLogger(__name__)

__all__ = [
    "NO_LIMITS",
    "CsvProfile",
    "ReadLimits",
    "read_aecg",
    "read_csv",
    "read_dicom",
    "read_ecg",
    "read_scp",
    "read_wfdb_files",
    "read_wfdb_record",
    "read_wfdb_zip",
    "sniff_format",
]


def _looks_like_scp(data: bytes) -> bool:
    if len(data) < 22:
        return False
    declared = int.from_bytes(data[2:6], "little")
    pointer_bytes = int.from_bytes(data[10:14], "little") - 16
    plausible = data[16:22] == b"SCPECG" or (pointer_bytes > 0 and pointer_bytes % 10 == 0)
    return declared == len(data) and data[8:10] == b"\0\0" and plausible


def sniff_format(data: bytes, filename: str = "") -> str:
    """Guess the format from content first, then the file name: one of
    ``dicom aecg scp wfdb-zip wfdb-header csv``."""
    name = filename.lower()
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data[128:132] == b"DICM" or name.endswith(".dcm"):
        return "dicom"
    if head.startswith(b"<") and b"AnnotatedECG" in data[:4096]:
        return "aecg"
    if _looks_like_scp(data) or name.endswith(".scp"):
        return "scp"
    if data[:4] == b"PK\x03\x04" or name.endswith(".zip"):
        return "wfdb-zip"
    if name.endswith(".hea"):
        return "wfdb-header"
    if name.endswith((".csv", ".txt", ".tsv")):
        return "csv"
    if head.startswith(b"<"):
        return "aecg"
    raise EcgFormatError(f"unrecognised ECG format for {filename or 'upload'!r}")


def read_ecg(
    data: bytes,
    filename: str = "",
    profile: CsvProfile | None = None,
    max_duration_s: float | None = None,
    max_expanded_bytes: float | None = None,
) -> EcgRecord:
    """Read an uploaded ECG in any supported format.

    Parameters
    ----------
    data:
        The file's bytes (a WFDB record comes as a zip of its ``.hea`` and signal files).
    filename:
        The uploaded file name, used as a hint when the content does not identify the format.
    profile:
        Required for CSV/text exports: the device's sampling rate, gain and lead order.
    max_duration_s:
        The longest recording accepted (an upload); ``None`` for a file already stored.
    max_expanded_bytes:
        The most bytes a compressed upload may inflate to, and the size of its decoded samples
        counted at 16 bits each (:class:`ReadLimits`); ``None`` for a file already stored.

    Every reader checks both bounds before it decodes: against what the format declares (the
    WFDB header, the SCP lead table, the DICOM multiplex group, the aECG digits counted), or row
    by row where nothing is declared (CSV).

    Raises
    ------
    EcgTooLong
        When the recording lasts longer than ``max_duration_s``.
    EcgTooLarge
        When the file inflates, or its samples decode, past ``max_expanded_bytes``.
    EcgFormatError
        When the data are empty, truncated, mis-declared or not an ECG.
    """
    limits = ReadLimits(
        max_duration_s=math.inf if max_duration_s is None else max_duration_s,
        max_bytes=math.inf if max_expanded_bytes is None else max_expanded_bytes,
    )
    record = _read(data, filename, profile, limits)
    if record.duration_s > limits.max_duration_s:  # every reader checked already: a safety net
        raise EcgTooLong(record.duration_s, limits.max_duration_s)
    return record


def _read(data: bytes, filename: str, profile: CsvProfile | None, limits: ReadLimits) -> EcgRecord:
    if not data:
        raise EcgFormatError("empty file")
    fmt = sniff_format(data, filename)
    logger.debug("reading %s as %s", filename, fmt)
    if fmt == "dicom":
        return read_dicom(data, limits)
    if fmt == "aecg":
        return read_aecg(data, limits)
    if fmt == "scp":
        return read_scp(data, limits)
    if fmt == "wfdb-zip":
        return read_wfdb_zip(data, limits)
    if fmt == "wfdb-header":
        raise EcgFormatError("a WFDB header alone has no samples: upload a zip with its .dat file")
    if profile is None:
        raise EcgFormatError("CSV/text ECG needs a device profile (sampling rate, gain, leads)")
    return read_csv(data, profile, limits)
