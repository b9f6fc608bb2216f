"""DICOM waveform (12-lead or general ECG): the rhythm multiplex group and the device's values."""

from __future__ import annotations

import io
import logging
import struct

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from ecg.errors import EcgFormatError
from ecg.readers._common import build_record
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


def _dataset(data: bytes) -> Dataset:
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=False)
        _ = ds.get("WaveformSequence")
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


def _samples(group: Dataset) -> tuple[np.ndarray, float, list[str]]:
    try:
        n_ch = int(group.NumberOfWaveformChannels)
        n_samp = int(group.NumberOfWaveformSamples)
        fs = float(group.SamplingFrequency)
        key = (int(group.WaveformBitsAllocated), str(group.WaveformSampleInterpretation))
        raw_bytes = bytes(group.WaveformData)
        channels = list(group.ChannelDefinitionSequence)
    except (AttributeError, ValueError, TypeError, EOFError, OSError, struct.error) as exc:
        raise EcgFormatError(f"DICOM: waveform attributes missing or bad: {exc}") from exc
    if key not in _DTYPES:
        raise EcgFormatError(f"DICOM: waveform sample encoding {key} not supported")
    if n_ch <= 0 or n_samp <= 0 or len(channels) != n_ch:
        raise EcgFormatError(
            f"DICOM: {n_ch} channels x {n_samp} samples with {len(channels)} channel definitions"
        )
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


def read_dicom(data: bytes) -> EcgRecord:
    """Read the rhythm waveform of a DICOM ECG (12-lead, general or ambulatory)."""
    ds = _dataset(data)
    samples, fs, names = _samples(_group(ds))
    device = DeviceInfo(
        manufacturer=str(ds.get("Manufacturer", "") or "") or None,
        model=str(ds.get("ManufacturerModelName", "") or "") or None,
        software=str(ds.get("SoftwareVersions", "") or "") or None,
    )
    return build_record(
        samples, fs, names, source_format="dicom", patient=_patient(ds), device=device,
        machine=_machine(ds),
    )  # fmt: skip
