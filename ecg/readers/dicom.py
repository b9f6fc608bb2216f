"""DICOM waveform (12-lead or general ECG): the rhythm multiplex group and the device's values."""

from __future__ import annotations

import io
import logging
import math
import struct
import zlib

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset, read_preamble
from pydicom.tag import BaseTag
from pydicom.uid import DeflatedExplicitVRLittleEndian

from ecg.errors import EcgFormatError, EcgTooLarge
from ecg.readers._common import build_record
from ecg.readers.limits import NO_LIMITS, ReadLimits
from ecg.record import DeviceInfo, EcgRecord, MachineMeasurements, PatientInfo

logger = logging.getLogger(__name__)

_UNIT_TO_MV = {"uv": 1e-3, "mv": 1.0, "v": 1e3, "nv": 1e-6}
_DTYPES = {
    (16, "SS"): "<i2",
    (16, "US"): "<u2",
    (8, "SB"): "i1",
    (8, "UB"): "u1",
    (32, "SL"): "<i4",
}
_MEANINGS = {
    "rr interval": "rr_ms",
    "p duration": "p_ms",
    "pr interval": "pr_ms",
    "qrs duration": "qrs_ms",
    "qt interval": "qt_ms",
    "qtc interval": "qtc_ms",
    "p axis": "p_axis",
    "qrs axis": "qrs_axis",
    "t axis": "t_axis",
}


def _not_file_meta(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag >> 16 != 2


def _inflate(deflated: bytes, limits: ReadLimits) -> bytes:
    """A deflated data set (PS3.5 A.5) inflated under ``limits.max_bytes``, never past it."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    cap = None if math.isinf(limits.max_bytes) else int(limits.max_bytes)
    out = inflater.decompress(deflated, 0 if cap is None else cap + 1)
    if cap is not None and len(out) > cap:
        raise EcgTooLarge.expanded("the deflated DICOM data set", limits.max_bytes)
    if not inflater.eof:
        raise EcgFormatError("DICOM: the deflated data set is truncated")
    return out


def _read(data: bytes, limits: ReadLimits) -> Dataset:
    """Parse the file; a deflated data set is inflated here, bounded (pydicom would not be)."""
    stream = io.BytesIO(data)
    read_preamble(stream, False)
    meta = read_dataset(stream, False, True, stop_when=_not_file_meta)
    if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        return pydicom.dcmread(io.BytesIO(data), force=False)
    logger.debug("DICOM: inflating a deflated data set of %d bytes", len(data) - stream.tell())
    return read_dataset(io.BytesIO(_inflate(data[stream.tell() :], limits)), False, True)


def _dataset(data: bytes, limits: ReadLimits) -> Dataset:
    try:
        ds = _read(data, limits)
        _ = ds.get("WaveformSequence")
    except EcgFormatError:
        raise
    except zlib.error as exc:
        raise EcgFormatError(f"DICOM: the deflated data set is damaged: {exc}") from exc
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OSError) as exc:
        raise EcgFormatError(f"DICOM: cannot parse file: {exc}") from exc
    if "WaveformSequence" not in ds or not ds.WaveformSequence:
        raise EcgFormatError("DICOM: file holds no waveform (WaveformSequence missing)")
    return ds


def _group(ds: Dataset) -> Dataset:
    groups = list(ds.WaveformSequence)
    for group in groups:
        if str(group.get("MultiplexGroupLabel", "")).upper().startswith("RHYTHM"):
            return group
    return max(groups, key=lambda g: int(g.get("NumberOfWaveformSamples", 0) or 0))


def _channel_name(channel: Dataset, index: int) -> str:
    source = channel.get("ChannelSourceSequence")
    if source:
        item = source[0]
        return str(item.get("CodeMeaning") or item.get("CodeValue") or f"ch{index + 1}")
    return str(channel.get("ChannelLabel") or f"ch{index + 1}")


def _channel_scale(channel: Dataset) -> tuple[float, float, float]:
    """Return (multiplier to sensitivity units, baseline in sensitivity units, units to mV)."""
    units = channel.get("ChannelSensitivityUnitsSequence")
    unit = str(units[0].get("CodeValue", "uV")).lower() if units else "uv"
    if unit not in _UNIT_TO_MV:
        raise EcgFormatError(f"DICOM: channel unit {unit!r} is not a voltage")
    sensitivity = float(channel.get("ChannelSensitivity", 1.0) or 1.0)
    correction = float(channel.get("ChannelSensitivityCorrectionFactor", 1.0) or 1.0)
    baseline = float(channel.get("ChannelBaseline", 0.0) or 0.0)
    return sensitivity * correction, baseline, _UNIT_TO_MV[unit]


def _samples(group: Dataset, limits: ReadLimits) -> tuple[np.ndarray, float, list[str]]:
    try:
        n_ch = int(group.NumberOfWaveformChannels)
        n_samp = int(group.NumberOfWaveformSamples)
        fs = float(group.SamplingFrequency)
        key = (int(group.WaveformBitsAllocated), str(group.WaveformSampleInterpretation))
        channels = list(group.ChannelDefinitionSequence)
    except (AttributeError, ValueError, TypeError, EOFError, OSError, struct.error) as exc:
        raise EcgFormatError(f"DICOM: waveform attributes missing or bad: {exc}") from exc
    if key not in _DTYPES:
        raise EcgFormatError(f"DICOM: waveform sample encoding {key} not supported")
    if n_ch <= 0 or n_samp <= 0 or len(channels) != n_ch:
        raise EcgFormatError(
            f"DICOM: {n_ch} channels x {n_samp} samples with {len(channels)} channel definitions"
        )
    limits.check("the DICOM waveform", n_ch, n_samp, fs)  # as declared, before any is decoded
    try:
        raw_bytes = bytes(group.WaveformData)
    except (AttributeError, ValueError, TypeError, EOFError, OSError, struct.error) as exc:
        raise EcgFormatError(f"DICOM: waveform data missing or bad: {exc}") from exc
    dtype = np.dtype(_DTYPES[key])
    need = n_ch * n_samp * dtype.itemsize
    if len(raw_bytes) < need:
        raise EcgFormatError(f"DICOM: waveform data truncated: {len(raw_bytes)} of {need} bytes")
    raw = np.frombuffer(raw_bytes[:need], dtype=dtype).reshape(n_samp, n_ch).T.astype(float)
    out = np.empty_like(raw)
    for i, channel in enumerate(channels):
        scale, baseline, to_mv = _channel_scale(channel)
        out[i] = (raw[i] * scale + baseline) * to_mv  # PS3.3 C.10.9.1.4.3
    return out, fs, [_channel_name(c, i) for i, c in enumerate(channels)]


def _machine(ds: Dataset) -> MachineMeasurements | None:
    values: dict[str, float] = {}
    statements: list[str] = []
    for item in ds.get("WaveformAnnotationSequence", []):
        text = item.get("UnformattedTextValue")
        if text:
            statements.append(str(text).strip())
            continue
        concept = item.get("ConceptNameCodeSequence")
        number = item.get("NumericValue")
        if not concept or number is None:
            continue
        key = _MEANINGS.get(str(concept[0].get("CodeMeaning", "")).strip().lower())
        if key and key not in values:
            try:
                values[key] = float(number)
            except (TypeError, ValueError):
                logger.warning("DICOM: ignoring non-numeric %s", key)
    if not values and not statements:
        return None
    return MachineMeasurements(**values, statements=tuple(statements))


def _patient(ds: Dataset) -> PatientInfo:
    sex = str(ds.get("PatientSex", "") or "").upper()
    age_text = str(ds.get("PatientAge", "") or "")
    age = None
    if len(age_text) == 4 and age_text.endswith("Y") and age_text[:3].isdigit():
        age = int(age_text[:3])
    birth = str(ds.get("PatientBirthDate", "") or "")
    return PatientInfo(
        patient_id=str(ds.get("PatientID", "") or "") or None,
        name=str(ds.get("PatientName", "") or "") or None,
        sex=sex if sex in ("M", "F") else None,
        age=age if age is not None and age <= 150 else None,
        birth_date=f"{birth[:4]}-{birth[4:6]}-{birth[6:8]}" if len(birth) == 8 else None,
    )


def read_dicom(data: bytes, limits: ReadLimits = NO_LIMITS) -> EcgRecord:
    """Read the rhythm waveform of a DICOM ECG (12-lead, general or ambulatory).

    A deflated data set inflates under ``limits.max_bytes``; the multiplex group's declared
    channels, samples and rate are checked against ``limits`` before its data are decoded.
    """
    ds = _dataset(data, limits)
    samples, fs, names = _samples(_group(ds), limits)
    device = DeviceInfo(
        manufacturer=str(ds.get("Manufacturer", "") or "") or None,
        model=str(ds.get("ManufacturerModelName", "") or "") or None,
        software=str(ds.get("SoftwareVersions", "") or "") or None,
    )
    return build_record(
        samples, fs, names, source_format="dicom", patient=_patient(ds), device=device,
        machine=_machine(ds),
    )  # fmt: skip
