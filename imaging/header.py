"""What the archive needs to know of an arriving instance, read without touching pixel data.

:func:`check_structure` walks the encoded data set element by element (lengths only, values are
skipped) and refuses a truncated or malformed stream; :func:`read_header` then parses everything
before Pixel Data with pydicom and returns an :class:`InstanceHeader` of checked values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pydicom
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.dataset import Dataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRBigEndian,
)

from imaging import walk
from imaging.files import BadUid, check_uid
from imaging.walk import LONG_VRS, OTHER_IDS_SEQUENCE, MalformedDataset

__all__ = ["InstanceHeader", "MalformedDataset", "check_structure", "fast_header", "read_header"]

WANTED: dict[int, tuple[str, str]] = {
    0x00080005: ("SpecificCharacterSet", "CS"),
    0x00080016: ("SOPClassUID", "UI"),
    0x00080018: ("SOPInstanceUID", "UI"),
    0x00080020: ("StudyDate", "DA"),
    0x00080021: ("SeriesDate", "DA"),
    0x00080030: ("StudyTime", "TM"),
    0x00080031: ("SeriesTime", "TM"),
    0x00080050: ("AccessionNumber", "SH"),
    0x00080060: ("Modality", "CS"),
    0x00080090: ("ReferringPhysicianName", "PN"),
    0x00081030: ("StudyDescription", "LO"),
    0x0008103E: ("SeriesDescription", "LO"),
    0x00100010: ("PatientName", "PN"),
    0x00100020: ("PatientID", "LO"),
    0x00100030: ("PatientBirthDate", "DA"),
    0x00100040: ("PatientSex", "CS"),
    0x00101000: ("OtherPatientIDs", "LO"),
    0x00180015: ("BodyPartExamined", "CS"),
    0x0020000D: ("StudyInstanceUID", "UI"),
    0x0020000E: ("SeriesInstanceUID", "UI"),
    0x00200010: ("StudyID", "SH"),
    0x00200011: ("SeriesNumber", "IS"),
    0x00200013: ("InstanceNumber", "IS"),
    0x00280002: ("SamplesPerPixel", "US"),
    0x00280004: ("PhotometricInterpretation", "CS"),
    0x00280008: ("NumberOfFrames", "IS"),
    0x00280010: ("Rows", "US"),
    0x00280011: ("Columns", "US"),
    0x00280100: ("BitsAllocated", "US"),
}
"""Top-level attributes the index needs: (keyword, VR) by tag."""


@dataclass(frozen=True)
class InstanceHeader:
    """The index attributes of one instance (DICOM string forms, checked UIDs)."""

    sop_class_uid: str
    sop_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax: str
    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    other_patient_ids: tuple[str, ...] = ()
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    study_id: str = ""
    study_description: str = ""
    referring_physician: str = ""
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    body_part: str = ""
    series_date: str = ""
    series_time: str = ""
    instance_number: int | None = None
    rows: int | None = None
    columns: int | None = None
    frames: int = 1
    samples_per_pixel: int | None = None
    bits_allocated: int | None = None
    photometric: str = ""

    def __post_init__(self) -> None:
        if self.study_uid == self.series_uid or self.series_uid == self.sop_uid:
            raise MalformedDataset(f"instance {self.sop_uid} repeats a UID across levels")


def check_structure(
    data: bytes | memoryview, transfer_syntax: str, found: dict[int, bytes] | None = None
) -> int:
    """:func:`imaging.walk.check_structure`, collecting the attributes the index needs."""
    return walk.check_structure(data, transfer_syntax, found, WANTED)


def fast_header(
    found: dict[int, bytes], walked_as: str, transfer_syntax: str = ""
) -> InstanceHeader | None:
    """The header from the raw values :func:`check_structure` collected walking in syntax
    ``walked_as``; None when pydicom must read it (an Other Patient IDs Sequence, or big
    endian values). ``transfer_syntax`` is the instance's own (a deflated one is walked
    inflated, as explicit VR little endian)."""
    if OTHER_IDS_SEQUENCE in found or walked_as == ExplicitVRBigEndian:
        return None
    charset = found.get(0x00080005, b"").decode("ascii", "replace").strip(" \x00")
    encodings = convert_encodings([c.strip() for c in charset.split("\\")] if charset else None)
    values: dict[str, Any] = {}
    for tag, raw in found.items():
        if tag not in WANTED:
            continue
        keyword, vr = WANTED[tag]
        if vr == "US":
            values[keyword] = struct.unpack("<H", raw[:2])[0] if len(raw) >= 2 else None
        elif vr in ("PN", "LO", "SH"):
            values[keyword] = decode_bytes(raw, encodings, set()).strip(" \x00")
        else:
            values[keyword] = raw.decode("ascii", "replace").strip(" \x00")
    return _header_from_values(values, transfer_syntax or walked_as)


def _header_from_values(values: dict[str, Any], transfer_syntax: str) -> InstanceHeader:
    def text(keyword: str, limit: int = 64) -> str:
        value = values.get(keyword)
        return "" if value is None else str(value).strip()[:limit]

    def number(keyword: str) -> int | None:
        value = values.get(keyword)
        if value is None or value == "":
            return None
        try:
            return int(str(value).split("\\")[0])
        except ValueError:
            return None

    def uid(keyword: str, what: str) -> str:  # checked whole: a UID is never cut
        value = values.get(keyword)
        return check_uid("" if value is None else str(value), what)

    try:
        return InstanceHeader(
            sop_class_uid=uid("SOPClassUID", "SOP Class UID"),
            sop_uid=uid("SOPInstanceUID", "SOP Instance UID"),
            study_uid=uid("StudyInstanceUID", "Study Instance UID"),
            series_uid=uid("SeriesInstanceUID", "Series Instance UID"),
            transfer_syntax=transfer_syntax,
            patient_id=text("PatientID"),
            patient_name=text("PatientName", 324),
            birth_date=text("PatientBirthDate", 8),
            sex=text("PatientSex", 16),
            other_patient_ids=tuple(
                v.strip() for v in text("OtherPatientIDs", 1024).split("\\") if v.strip()
            ),
            study_date=text("StudyDate", 8),
            study_time=text("StudyTime", 16),
            accession_number=text("AccessionNumber", 16),
            study_id=text("StudyID", 16),
            study_description=text("StudyDescription"),
            referring_physician=text("ReferringPhysicianName", 324),
            modality=text("Modality", 16),
            series_number=number("SeriesNumber"),
            series_description=text("SeriesDescription"),
            body_part=text("BodyPartExamined", 16),
            series_date=text("SeriesDate", 8),
            series_time=text("SeriesTime", 16),
            instance_number=number("InstanceNumber"),
            rows=values.get("Rows"),
            columns=values.get("Columns"),
            frames=_frames(number("NumberOfFrames")),
            samples_per_pixel=values.get("SamplesPerPixel"),
            bits_allocated=values.get("BitsAllocated"),
            photometric=text("PhotometricInterpretation", 16).upper(),
        )
    except BadUid as exc:
        raise MalformedDataset(str(exc)) from None


def encode_file_meta(
    sop_class_uid: str,
    sop_uid: str,
    transfer_syntax: str,
    source_aet: str = "",
    implementation_uid: str = PYDICOM_IMPLEMENTATION_UID,
    implementation_version: str = "TELECENTER",
) -> bytes:
    """Preamble, prefix and File Meta Information (PS3.10 7.1) for a received data set."""
    body = _meta_element(0x0001, b"OB", b"\x00\x01")
    body += _meta_element(0x0002, b"UI", sop_class_uid.encode())
    body += _meta_element(0x0003, b"UI", sop_uid.encode())
    body += _meta_element(0x0010, b"UI", transfer_syntax.encode())
    body += _meta_element(0x0012, b"UI", implementation_uid.encode())
    body += _meta_element(0x0013, b"SH", implementation_version.encode()[:16])
    if source_aet:
        body += _meta_element(0x0016, b"AE", source_aet.encode("ascii", "replace")[:16])
    length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(body))
    return b"\x00" * 128 + b"DICM" + length + body


def _meta_element(elem: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr == b"UI" else b" "
    if vr == b"OB":
        return struct.pack("<HH2sHI", 0x0002, elem, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, elem, vr, len(value)) + value


def split_part10(data: bytes | memoryview) -> tuple[str, int]:
    """The transfer syntax and the data set offset of a DICOM file (PS3.10) held in memory."""
    view = memoryview(data)
    if len(view) >= 132 and bytes(view[128:132]) == b"DICM":
        pos = 132
    elif bytes(view[:2]) == b"\x02\x00":  # file meta without the preamble (pydicom's default)
        pos = 0
    else:
        raise MalformedDataset("not a DICOM file (no DICM prefix, no file meta)")
    transfer_syntax = ""
    while pos + 8 <= len(view):
        group, elem = struct.unpack_from("<HH", view, pos)
        if group != 0x0002:
            break
        vr = bytes(view[pos + 4 : pos + 6])
        if vr in LONG_VRS:
            length, header = struct.unpack_from("<I", view, pos + 8)[0], 12
        else:
            length, header = struct.unpack_from("<H", view, pos + 6)[0], 8
        if pos + header + length > len(view):
            raise MalformedDataset("truncated file meta information")
        if elem == 0x0010:
            value = bytes(view[pos + header : pos + header + length])
            transfer_syntax = value.rstrip(b"\x00 ").decode("ascii", "replace")
        pos += header + length
    if not transfer_syntax:
        raise MalformedDataset("the file meta information has no Transfer Syntax UID")
    return transfer_syntax, pos


def read_dataset_header(prefix: bytes, walked_as: str, transfer_syntax: str) -> InstanceHeader:
    """Parse the attributes of an encoded data set's ``prefix`` (everything before its pixel
    data), encoded in ``walked_as``. pydicom reads a data set through a file meta that names
    its syntax; the meta's other values are placeholders nobody reads."""
    meta = encode_file_meta("1.2", "1.2", walked_as)
    return read_header(meta + prefix, transfer_syntax)


def read_header(file_bytes: bytes, transfer_syntax: str) -> InstanceHeader:
    """Parse the attributes before Pixel Data of a DICOM file held in memory."""
    try:
        ds = pydicom.dcmread(BytesIO(file_bytes), stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many kinds on bad input
        raise MalformedDataset(f"unparseable data set: {exc}") from None
    return header_of(ds, transfer_syntax)


def header_of(ds: Dataset, transfer_syntax: str) -> InstanceHeader:
    try:
        return InstanceHeader(
            sop_class_uid=_uid(ds, "SOPClassUID", "SOP Class UID"),
            sop_uid=_uid(ds, "SOPInstanceUID", "SOP Instance UID"),
            study_uid=_uid(ds, "StudyInstanceUID", "Study Instance UID"),
            series_uid=_uid(ds, "SeriesInstanceUID", "Series Instance UID"),
            transfer_syntax=transfer_syntax,
            patient_id=_text(ds, "PatientID", 64),
            patient_name=_text(ds, "PatientName", 324),
            birth_date=_text(ds, "PatientBirthDate", 8),
            sex=_text(ds, "PatientSex", 16),
            other_patient_ids=_other_ids(ds),
            study_date=_text(ds, "StudyDate", 8),
            study_time=_text(ds, "StudyTime", 16),
            accession_number=_text(ds, "AccessionNumber", 16),
            study_id=_text(ds, "StudyID", 16),
            study_description=_text(ds, "StudyDescription", 64),
            referring_physician=_text(ds, "ReferringPhysicianName", 324),
            modality=_text(ds, "Modality", 16),
            series_number=_int(ds, "SeriesNumber"),
            series_description=_text(ds, "SeriesDescription", 64),
            body_part=_text(ds, "BodyPartExamined", 16),
            series_date=_text(ds, "SeriesDate", 8),
            series_time=_text(ds, "SeriesTime", 16),
            instance_number=_int(ds, "InstanceNumber"),
            rows=_int(ds, "Rows"),
            columns=_int(ds, "Columns"),
            frames=_frames(_int(ds, "NumberOfFrames")),
            samples_per_pixel=_int(ds, "SamplesPerPixel"),
            bits_allocated=_int(ds, "BitsAllocated"),
            photometric=_text(ds, "PhotometricInterpretation", 16).upper(),
        )
    except BadUid as exc:
        raise MalformedDataset(str(exc)) from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MalformedDataset(f"bad attribute value: {exc}") from None


def _uid(ds: Dataset, keyword: str, what: str) -> str:
    """A UID attribute checked whole (PS3.5 9.1): never cut to fit."""
    value = ds.get(keyword)
    if value is None:
        return check_uid("", what)
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    return check_uid(str(value), what)


def _frames(value: int | None) -> int:
    """Number of Frames: absent means one; zero or negative is refused (it sizes the pixels)."""
    if value is None:
        return 1
    if value < 1:
        raise MalformedDataset(f"Number of Frames {value} is not a positive number")
    return value


def _text(ds: Dataset, keyword: str, limit: int = 64) -> str:
    value = ds.get(keyword)
    if value is None or value == "":
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    return str(value).strip()[:limit]


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _other_ids(ds: Dataset) -> tuple[str, ...]:
    found: list[str] = []
    raw = ds.get("OtherPatientIDs")
    if raw:
        found.extend(str(v).strip() for v in (raw if not isinstance(raw, str) else [raw]))
    for item in ds.get("OtherPatientIDsSequence", []) or []:
        value = item.get("PatientID")
        if value:
            found.append(str(value).strip())
    return tuple(v for v in found if v)
