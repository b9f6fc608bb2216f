"""HL7 aECG (annotated ECG, HL7 v3 XML): rhythm series, patient and the machine's measurements."""

from __future__ import annotations

import logging
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import numpy as np

from ecg.errors import EcgFormatError
from ecg.readers._common import build_record
from ecg.readers.limits import NO_LIMITS, ReadLimits
from ecg.record import DeviceInfo, EcgRecord, MachineMeasurements, PatientInfo

logger = logging.getLogger(__name__)

_NS = "{urn:hl7-org:v3}"
_WHITESPACE = np.array([9, 10, 11, 12, 13, 32], dtype=np.uint8)
_UNIT_TO_MV = {"uv": 1e-3, "mv": 1.0, "v": 1e3, "nv": 1e-6}
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_MACHINE_CODES = {
    "MDC_ECG_TIME_PD_RR": "rr_ms",
    "MDC_ECG_TIME_PD_P": "p_ms",
    "MDC_ECG_TIME_PD_PR": "pr_ms",
    "MDC_ECG_TIME_PD_QRS": "qrs_ms",
    "MDC_ECG_TIME_PD_QT": "qt_ms",
    "MDC_ECG_TIME_PD_QTc": "qtc_ms",
    "MDC_ECG_ANGLE_P_FRONT": "p_axis",
    "MDC_ECG_ANGLE_QRS_FRONT": "qrs_axis",
    "MDC_ECG_ANGLE_T_FRONT": "t_axis",
}


def _tag(name: str) -> str:
    return f"{_NS}{name}"


def _code(elem: ET.Element) -> str:
    code = elem.find(_tag("code"))
    return code.get("code", "") if code is not None else ""


def _parse(data: bytes) -> ET.Element:
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise EcgFormatError("aECG: XML with a DTD or entities is refused")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs refused above
    except ET.ParseError as exc:
        raise EcgFormatError(f"aECG: XML is not well-formed: {exc}") from exc
    if root.tag != _tag("AnnotatedECG"):
        raise EcgFormatError(f"aECG: root element is {root.tag!r}, not AnnotatedECG")
    return root


def _rhythm_sequences(root: ET.Element) -> Iterator[ET.Element]:
    for series in root.iter(_tag("series")):
        if _code(series) in ("RHYTHM", ""):
            sequence_set = series.find(f"{_tag('component')}/{_tag('sequenceSet')}")
            if sequence_set is not None:
                yield from sequence_set.iter(_tag("sequence"))
                return
    raise EcgFormatError("aECG: no rhythm series with a sequenceSet")


def _sampling_rate(sequence: ET.Element) -> float:
    inc = sequence.find(f"{_tag('value')}/{_tag('increment')}")
    if inc is None:
        raise EcgFormatError("aECG: time sequence has no increment")
    try:
        step = float(inc.get("value", "")) * _SECONDS[inc.get("unit", "s").lower()]
    except (ValueError, KeyError) as exc:
        raise EcgFormatError(f"aECG: bad time increment {inc.attrib}") from exc
    if step <= 0:
        raise EcgFormatError(f"aECG: time increment {step} s is not positive")
    return 1.0 / step


def _digits(sequence: ET.Element, name: str) -> str:
    digits = sequence.find(f"{_tag('value')}/{_tag('digits')}")
    text = digits.text if digits is not None else None
    if not (text or "").strip():
        raise EcgFormatError(f"aECG: lead {name} lacks scale or digits")
    return text or ""


def count_values(text: str) -> int:
    """How many whitespace-separated values ``text`` holds, counted without splitting it."""
    raw = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)
    if raw.size == 0:
        return 0
    blank = np.isin(raw, _WHITESPACE)
    return int(np.count_nonzero(blank[:-1] & ~blank[1:])) + int(not blank[0])


def _parse_values(text: str, n_values: int, name: str) -> np.ndarray:
    """The ``n_values`` numbers of ``text`` (parsed in C: no list of strings on the way)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # numpy's "unmatched data"
            raw = np.fromstring(text, dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning) as exc:
        raise EcgFormatError(f"aECG: lead {name} has non-numeric digits") from exc
    if raw.size != n_values:
        raise EcgFormatError(f"aECG: lead {name} has non-numeric digits")
    return raw


def _lead(sequence: ET.Element, name: str, n_values: int) -> np.ndarray:
    value = sequence.find(_tag("value"))
    origin = value.find(_tag("origin")) if value is not None else None
    scale = value.find(_tag("scale")) if value is not None else None
    if value is None or scale is None:
        raise EcgFormatError(f"aECG: lead {name} lacks scale or digits")
    try:
        unit = _UNIT_TO_MV[scale.get("unit", "uV").lower()]
        factor = float(scale.get("value", "")) * unit
        offset = float(origin.get("value", "0")) if origin is not None else 0.0
        offset *= _UNIT_TO_MV[origin.get("unit", "uV").lower()] if origin is not None else 1.0
    except (ValueError, KeyError) as exc:
        raise EcgFormatError(f"aECG: lead {name} has bad scale, origin or digits") from exc
    return _parse_values(_digits(sequence, name), n_values, name) * factor + offset


def _patient(root: ET.Element) -> PatientInfo | None:
    person = next(root.iter(_tag("subjectDemographicPerson")), None)
    if person is None:
        return None
    gender = person.find(_tag("administrativeGenderCode"))
    birth = person.find(_tag("birthTime"))
    name = person.find(_tag("name"))
    sex = gender.get("code") if gender is not None else None
    raw_birth = birth.get("value", "") if birth is not None else ""
    birth_date = (
        f"{raw_birth[:4]}-{raw_birth[4:6]}-{raw_birth[6:8]}" if len(raw_birth) >= 8 else None
    )
    return PatientInfo(
        name=(name.text or "").strip() or None if name is not None else None,
        sex=sex if sex in ("M", "F") else None,
        birth_date=birth_date,
    )


def _device(root: ET.Element) -> DeviceInfo | None:
    model = next(root.iter(_tag("manufacturerModelName")), None)
    org = next(root.iter(_tag("manufacturerOrganization")), None)
    org_name = org.find(_tag("name")) if org is not None else None
    if model is None and org_name is None:
        return None
    return DeviceInfo(
        manufacturer=(org_name.text or "").strip() or None if org_name is not None else None,
        model=(model.text or "").strip() or None if model is not None else None,
    )


def _machine(root: ET.Element) -> MachineMeasurements | None:
    values: dict[str, float] = {}
    statements: list[str] = []
    for annotation in root.iter(_tag("annotation")):
        code = _code(annotation)
        value = annotation.find(_tag("value"))
        if value is None:
            continue
        if code in _MACHINE_CODES and _MACHINE_CODES[code] not in values:
            try:
                values[_MACHINE_CODES[code]] = float(value.get("value", ""))
            except ValueError:
                logger.warning("aECG: ignoring non-numeric %s", code)
        elif code in ("MDC_ECG_RHY", "MDC_ECG_INTERPRETATION_STATEMENT"):
            text = value.get("displayName") or value.text or value.get("code")
            if text and text.strip() not in statements:
                statements.append(text.strip())
    if not values and not statements:
        return None
    return MachineMeasurements(**values, statements=tuple(statements))


def read_aecg(data: bytes, limits: ReadLimits = NO_LIMITS) -> EcgRecord:
    """Read the rhythm waveforms of an HL7 aECG document.

    The document declares no sample counts: each lead's values are counted in its text and
    checked against ``limits`` (duration at the time sequence's rate, and size) before any is
    parsed.
    """
    root = _parse(data)
    fs: float | None = None
    sequences: list[tuple[str, ET.Element]] = []
    for sequence in _rhythm_sequences(root):
        code = _code(sequence)
        if code.startswith("TIME_"):
            fs = _sampling_rate(sequence)
        elif code.startswith("MDC_ECG_LEAD_") or code.startswith("LEAD_"):
            sequences.append((code, sequence))
    if fs is None:
        raise EcgFormatError("aECG: no time sequence (sampling rate unknown)")
    if not sequences:
        raise EcgFormatError("aECG: no lead sequences")
    counts = [count_values(_digits(seq, code)) for code, seq in sequences]
    limits.check_duration(max(counts), fs)
    limits.check_samples("the aECG document", sum(counts))
    names = [code for code, _ in sequences]
    leads = [_lead(seq, code, n) for (code, seq), n in zip(sequences, counts, strict=True)]
    n = min(x.size for x in leads)
    if max(x.size for x in leads) != n:
        raise EcgFormatError("aECG: leads have different numbers of samples")
    return build_record(
        np.vstack(leads), fs, names, source_format="aecg", patient=_patient(root),
        device=_device(root), machine=_machine(root),
    )  # fmt: skip
