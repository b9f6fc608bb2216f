"""WFDB records (PhysioNet): a ``.hea`` header plus its signal files, as files or one zip."""

from __future__ import annotations

import io
import logging
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ecg.errors import EcgFormatError, EcgTooLarge
from ecg.readers._common import build_record
from ecg.readers.limits import NO_LIMITS, ReadLimits
from ecg.record import EcgRecord, PatientInfo

logger = logging.getLogger(__name__)

MAX_ZIP_MEMBERS = 64
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3, "nv": 1e-6}
_BYTES_PER_SAMPLE = {"16": 2.0, "61": 2.0, "80": 1.0, "160": 2.0, "212": 1.5, "24": 3.0, "32": 4.0}
_INVALID = {"16": -32768, "61": -32768, "80": -128, "160": -32768, "212": -2048, "24": -(2**23)}
_FLOAT_RE = r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?"


@dataclass(frozen=True)
class _Signal:
    file_name: str
    fmt: str
    byte_offset: int
    gain: float
    baseline: int
    to_mv: float
    checksum: int | None
    name: str


@dataclass(frozen=True)
class _Header:
    name: str
    fs: float
    n_samples: int | None
    signals: tuple[_Signal, ...]
    comments: tuple[str, ...]


def _parse_record_line(line: str) -> tuple[str, int, float, int | None]:
    tokens = line.split()
    if len(tokens) < 2:
        raise EcgFormatError(f"WFDB header: record line {line!r} lacks the number of signals")
    if "/" in tokens[0]:
        raise EcgFormatError("WFDB header: multi-segment records are not supported")
    try:
        n_sig = int(tokens[1])
        fs = float(re.split(r"[/(]", tokens[2])[0]) if len(tokens) > 2 else 250.0
        n_samples = int(tokens[3]) if len(tokens) > 3 else None
    except ValueError as exc:
        raise EcgFormatError(f"WFDB header: bad record line {line!r}") from exc
    if n_sig <= 0:
        raise EcgFormatError(f"WFDB header declares {n_sig} signals")
    if n_samples is not None and n_samples <= 0:
        raise EcgFormatError(f"WFDB header declares {n_samples} samples")
    return tokens[0], n_sig, fs, n_samples


def _parse_gain(token: str | None, adc_zero: int) -> tuple[float, int, float]:
    if token is None:
        return 200.0, adc_zero, 1.0
    match = re.fullmatch(rf"({_FLOAT_RE})(?:\(([-+]?\d+)\))?(?:/(\S+))?", token)
    if match is None:
        raise EcgFormatError(f"WFDB header: bad gain field {token!r}")
    gain = float(match.group(1)) or 200.0
    baseline = int(match.group(2)) if match.group(2) is not None else adc_zero
    units = (match.group(3) or "mV").lower()
    return gain, baseline, _UNIT_TO_MV.get(units, float("nan"))


def _parse_signal_line(line: str) -> _Signal:
    tokens = line.split()
    if len(tokens) < 2:
        raise EcgFormatError(f"WFDB header: signal line {line!r} lacks a format")
    match = re.fullmatch(r"(\d+)(?:x\d+)?(?::\d+)?(?:\+(\d+))?", tokens[1])
    if match is None:
        raise EcgFormatError(f"WFDB header: bad format field {tokens[1]!r}")
    fmt = match.group(1)
    if fmt not in _BYTES_PER_SAMPLE:
        raise EcgFormatError(f"WFDB signal format {fmt} is not supported")
    try:
        adc_zero = int(tokens[4]) if len(tokens) > 4 else 0
        checksum = int(tokens[6]) if len(tokens) > 6 else None
    except ValueError as exc:
        raise EcgFormatError(f"WFDB header: bad signal line {line!r}") from exc
    gain, baseline, to_mv = _parse_gain(tokens[2] if len(tokens) > 2 else None, adc_zero)
    name = " ".join(tokens[8:]) if len(tokens) > 8 else f"ch{tokens[0]}"
    file_name = tokens[0]
    if "/" in file_name or "\\" in file_name or file_name.startswith("."):
        raise EcgFormatError(f"WFDB header names an unsafe signal file {file_name!r}")
    offset = int(match.group(2) or 0)
    return _Signal(file_name, fmt, offset, gain, baseline, to_mv, checksum, name)


def parse_header(text: str) -> _Header:
    """Parse the text of a ``.hea`` file."""
    lines = [ln.strip() for ln in text.splitlines()]
    comments = tuple(ln.lstrip("#").strip() for ln in lines if ln.startswith("#"))
    body = [ln.split("#")[0].strip() for ln in lines if ln and not ln.startswith("#")]
    if not body:
        raise EcgFormatError("WFDB header is empty")
    name, n_sig, fs, n_samples = _parse_record_line(body[0])
    if len(body) - 1 < n_sig:
        raise EcgFormatError(f"WFDB header declares {n_sig} signals but describes {len(body) - 1}")
    signals = tuple(_parse_signal_line(ln) for ln in body[1 : 1 + n_sig])
    return _Header(name, fs, n_samples, signals, comments)


def _check_header(header: _Header, limits: ReadLimits) -> None:
    """The declared duration and size, before any signal file is read."""
    if header.n_samples is not None:
        limits.check("the WFDB record", len(header.signals), header.n_samples, header.fs)


def _values_in(n_bytes: int, fmt: str) -> int:
    """How many whole samples ``n_bytes`` of format ``fmt`` hold."""
    if fmt == "212":
        return n_bytes // 3 * 2
    return n_bytes // int(_BYTES_PER_SAMPLE[fmt])


def _bytes_for(n_values: int, fmt: str) -> int:
    """The bytes that hold ``n_values`` samples of format ``fmt`` (whole 212 pairs)."""
    if fmt == "212":
        return (n_values + 1) // 2 * 3
    return n_values * int(_BYTES_PER_SAMPLE[fmt])


def _decode(raw: bytes, fmt: str) -> npt.NDArray[np.int64]:
    buf = np.frombuffer(raw, dtype=np.uint8)
    if fmt == "16":
        return np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int64)
    if fmt == "61":
        return np.frombuffer(raw[: len(raw) // 2 * 2], dtype=">i2").astype(np.int64)
    if fmt == "160":
        return np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<u2").astype(np.int64) - 32768
    if fmt == "80":
        return buf.astype(np.int64) - 128
    if fmt == "32":
        return np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<i4").astype(np.int64)
    if fmt == "24":
        b = buf[: len(buf) // 3 * 3].reshape(-1, 3).astype(np.int64)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return np.where(value >= 2**23, value - 2**24, value)
    # format 212: two 12-bit samples in three bytes
    b = buf[: len(buf) // 3 * 3].reshape(-1, 3).astype(np.int64)
    first = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
    second = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
    out = np.empty(first.size * 2, dtype=np.int64)
    out[0::2], out[1::2] = first, second
    return np.where(out >= 2048, out - 4096, out)


def _read_file_signals(
    header: _Header, file_name: str, data: bytes, limits: ReadLimits
) -> dict[int, npt.NDArray[np.float64]]:
    index = [i for i, s in enumerate(header.signals) if s.file_name == file_name]
    first = header.signals[index[0]]
    n_sig = len(index)
    n_avail = _values_in(max(len(data) - first.byte_offset, 0), first.fmt) // n_sig
    n_samples = header.n_samples if header.n_samples is not None else n_avail
    if n_avail < n_samples:
        raise EcgFormatError(
            f"WFDB signal file {file_name} is truncated: {n_avail} of {n_samples} samples"
        )
    limits.check(f"WFDB signal file {file_name}", n_sig, n_samples, header.fs)
    end = first.byte_offset + _bytes_for(n_samples * n_sig, first.fmt)
    digital = _decode(data[first.byte_offset : end], first.fmt)
    frame = digital[: n_samples * n_sig].reshape(n_samples, n_sig).T
    out: dict[int, npt.NDArray[np.float64]] = {}
    for row, i in enumerate(index):
        sig = header.signals[i]
        values = frame[row]
        if sig.checksum is not None and n_avail == n_samples:
            total = int(values.sum()) & 0xFFFF
            declared = sig.checksum & 0xFFFF
            if total != declared:
                raise EcgFormatError(f"WFDB checksum mismatch in signal {sig.name!r}")
        invalid = values == _INVALID.get(sig.fmt, -(2**40))
        mv = (values - sig.baseline) / sig.gain * sig.to_mv
        mv[invalid] = 0.0
        out[i] = mv
    return out


def _patient_from_comments(comments: tuple[str, ...]) -> PatientInfo | None:
    text = " ".join(comments)
    age_match = re.search(r"age>?\s*:?\s*(\d{1,3})", text, re.IGNORECASE)
    sex_match = re.search(r"sex>?\s*:?\s*(male|female|m|f)\b", text, re.IGNORECASE)
    for line in comments:  # MIT-BIH style "69 M 1085 1629 x1"
        if mit := re.match(r"(\d{1,3})\s+([MF])\b", line):
            age_match = age_match or mit
            sex_match = sex_match or re.match(r"\d{1,3}\s+([MF])\b", line)
            break
    age = int(age_match.group(1)) if age_match else None
    sex = sex_match.group(1)[0].upper() if sex_match else None
    if age is None and sex is None:
        return None
    return PatientInfo(sex=sex, age=age if age is not None and age <= 150 else None)


def read_wfdb_files(
    header_text: str, files: dict[str, bytes], limits: ReadLimits = NO_LIMITS
) -> EcgRecord:
    """Read a WFDB record from its header text and a mapping of signal file name to bytes.

    The header's declared duration and size are checked against ``limits`` first, and each
    signal file's before it is decoded (only the samples the header declares are decoded).
    """
    header = parse_header(header_text)
    _check_header(header, limits)
    signals: dict[int, npt.NDArray[np.float64]] = {}
    for file_name in dict.fromkeys(s.file_name for s in header.signals):
        if file_name not in files:
            raise EcgFormatError(f"WFDB signal file {file_name} is missing")
        signals.update(_read_file_signals(header, file_name, files[file_name], limits))
    keep = [i for i, s in enumerate(header.signals) if np.isfinite(s.to_mv)]
    if not keep:
        raise EcgFormatError("WFDB record has no signal in volts")
    samples = np.vstack([signals[i] for i in keep])
    names = [header.signals[i].name for i in keep]
    return build_record(
        samples,
        header.fs,
        names,
        source_format="wfdb",
        patient=_patient_from_comments(header.comments),
    )


def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename
    if name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/") or ":" in name:
        raise EcgFormatError(f"zip member name {name!r} is not a plain relative path")
    if info.flag_bits & 0x1:
        raise EcgFormatError(f"zip member {name!r} is encrypted")
    if info.compress_type not in _ZIP_METHODS:
        raise EcgFormatError(
            f"zip member {name!r} uses compression method {info.compress_type}: "
            "only stored or deflated members are read"
        )
    if name.lower().endswith(".zip"):
        raise EcgFormatError(
            f"zip member {name!r} is itself a zip: zip the record's files directly"
        )


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: float, limits: ReadLimits
) -> bytes:
    """The member's bytes, counted while they inflate (never trusting its declared size)."""
    chunks, total = [], 0
    with archive.open(info) as member:
        while chunk := member.read(1 << 20):
            total += len(chunk)
            if total > budget:
                raise EcgTooLarge.expanded("the zip", limits.max_bytes)
            chunks.append(chunk)
    return b"".join(chunks)


def read_wfdb_zip(data: bytes, limits: ReadLimits = NO_LIMITS) -> EcgRecord:
    """Read the first WFDB record inside a zip archive (only the files its header names).

    The members inflate under a running count bounded by ``limits.max_bytes``; the header's
    declared duration and size are checked before any signal file is inflated.
    """
    budget = limits.max_bytes
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > MAX_ZIP_MEMBERS:
            raise EcgFormatError(
                f"zip archive holds {len(infos)} files (at most {MAX_ZIP_MEMBERS})"
            )
        for info in infos:
            _check_member(info)
        if sum(i.file_size for i in infos) > budget:
            raise EcgTooLarge.expanded("the zip", budget)
        headers = [i for i in infos if i.filename.lower().endswith(".hea")]
        if not headers:
            raise EcgFormatError("zip archive holds no WFDB header (.hea)")
        head = headers[0]
        folder = head.filename.rpartition("/")[0]
        text = _read_member(archive, head, budget, limits).decode("latin-1")
        header = parse_header(text)
        _check_header(header, limits)
        wanted = {s.file_name for s in header.signals}
        members = {
            i.filename.rpartition("/")[2]: i
            for i in infos
            if i.filename.rpartition("/")[0] == folder and i.filename.rpartition("/")[2] in wanted
        }
        budget, files = budget - len(text), {}
        for name, info in members.items():
            files[name] = _read_member(archive, info, budget, limits)
            budget -= len(files[name])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error) as exc:
        raise EcgFormatError(f"zip archive is damaged: {exc}") from exc
    except (NotImplementedError, RuntimeError) as exc:  # methods or encryption zipfile refuses
        raise EcgFormatError(f"zip archive cannot be read: {exc}") from exc
    except EcgFormatError:
        raise
    except ValueError as exc:  # zipfile seeking to a member offset the directory got wrong
        raise EcgFormatError(f"zip archive is damaged: {exc}") from exc
    return read_wfdb_files(text, files, limits)


def read_wfdb_record(path: str | Path, limits: ReadLimits = NO_LIMITS) -> EcgRecord:
    """Read a WFDB record from disk given its path without extension (as wfdb takes it).

    The header's declared duration and size, and each signal file's size on disk, are checked
    against ``limits`` before the signal files are read.
    """
    base = Path(path)
    header_path = base.with_name(base.name + ".hea")
    try:
        text = header_path.read_text(encoding="latin-1")
    except OSError as exc:
        raise EcgFormatError(f"cannot read WFDB header {header_path}: {exc}") from exc
    header = parse_header(text)
    _check_header(header, limits)
    files: dict[str, bytes] = {}
    for sig in header.signals:
        if sig.file_name not in files:
            files[sig.file_name] = _read_signal_file(base.parent / sig.file_name, sig, limits)
    return read_wfdb_files(text, files, limits)


def _read_signal_file(path: Path, sig: _Signal, limits: ReadLimits) -> bytes:
    """A signal file's bytes, once its size on disk is within the bound."""
    try:
        size = path.stat().st_size
        limits.check_samples(f"WFDB signal file {path.name}", _values_in(size, sig.fmt))
        return path.read_bytes()
    except OSError as exc:
        raise EcgFormatError(f"cannot read WFDB signal file {path.name}") from exc
