"""The values the DICOM side of the node and its database side exchange.

Devices, query levels, instance references, worklist keys and steps, and the refusals that
cross :class:`imaging.backend.NodeBackend`: plain, picklable data with no database layer behind
it, so a node worker process (:mod:`imaging.worker`) imports neither SQLAlchemy nor the domain
core. The modules that act on them (:mod:`imaging.devices`, :mod:`imaging.matching`,
:mod:`imaging.query`, :mod:`imaging.worklist`, :mod:`imaging.ownership`) import them from here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

AET_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII without backslash
MODALITY_RE = re.compile(r"^[A-Z0-9_]{1,16}$")
DATE_RE = re.compile(r"^\d{8}$")

UidSelection = dict[str, list[str]]
"""UIDs of a retrieve by level keyword (``StudyInstanceUID``...)."""


class Operation(StrEnum):
    STORE = "store"
    FIND = "find"
    MOVE = "move"
    GET = "get"


@dataclass(frozen=True)
class DeviceInfo:
    """A device as the node sees it (immutable, safe to share with association threads)."""

    id: int
    ae_title: str
    host: str
    port: int
    institution_id: int
    institution_code: str
    county: bool
    operations: frozenset[Operation]
    active: bool = True

    def may(self, operation: Operation) -> bool:
        return self.active and operation in self.operations


class Level(StrEnum):
    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"

    @property
    def depth(self) -> int:
        return list(Level).index(self)


class QueryError(ValueError):
    """A query key whose value cannot be matched (a malformed range, a bad number)."""


class UidConflict(ValueError):
    """A UID of the instance is another institution's, or another study's or series'."""


class DifferentContent(UidConflict):
    """The sender already stored another instance under this SOP Instance UID."""


@dataclass(frozen=True)
class InstanceRef:
    """An instance to send or serve."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    path: str
    frames: int
    patient_id: int | None


@dataclass(frozen=True)
class WorklistKeys:
    """The matching keys of a worklist query (empty: universal)."""

    modality: str = ""
    station_aet: str = ""
    start_date: str = ""
    """``YYYYMMDD``, ``A-``, ``-B`` or ``A-B``."""
    patient_id: str = ""
    accession: str = ""

    def checked(self) -> WorklistKeys:
        """These keys, or raise :class:`QueryError` for a value that cannot be matched."""
        if self.modality and not MODALITY_RE.match(self.modality):
            raise QueryError("Modality must be a DICOM code string")
        if self.station_aet and not AET_RE.match(self.station_aet):
            raise QueryError("ScheduledStationAETitle must be an AE title")
        for value, name in ((self.patient_id, "PatientID"), (self.accession, "AccessionNumber")):
            if len(value) > 64 or "\x00" in value:
                raise QueryError(f"{name} is too long or not text")
        date_range(self.start_date)
        return self


def date_range(value: str) -> tuple[str, str]:
    """The inclusive ``YYYYMMDD`` bounds of a DICOM date range ("" for an open end)."""
    if not value:
        return "", ""
    low, sep, high = value.partition("-")
    if (not sep and low != value) or not (low or high):
        raise QueryError("ScheduledProcedureStepStartDate must be a date or a date range")
    for part in (low, high):
        if part and not (DATE_RE.match(part) and _valid_date(part)):
            raise QueryError("ScheduledProcedureStepStartDate must be YYYYMMDD")
    return (low, high) if sep else (low, low)


def _valid_date(text: str) -> bool:
    try:
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ScheduledStep:
    """One worklist item, as the modality is told it."""

    patient_name: str
    patient_id: str
    birth_date: str
    sex: str
    accession: str
    requested_procedure_id: str
    description: str
    study_uid: str
    step_id: str
    modality: str
    station_aet: str
    start_date: str
    start_time: str
    status: str


@dataclass(frozen=True)
class StepReference:
    """What an N-CREATE's Scheduled Step Attributes Sequence names."""

    study_uid: str = ""
    accession: str = ""
    step_id: str = ""


class Refusal(StrEnum):
    """Why an MPPS message is refused (the adapter gives each its DICOM status)."""

    MISSING = "missing attribute"
    INVALID = "invalid attribute value"
    DUPLICATE = "duplicate SOP instance"
    NO_SUCH_INSTANCE = "no such SOP instance"
    NO_SUCH_STEP = "no scheduled step"
    FINAL = "may no longer be updated"


class StepRefused(Exception):
    """An MPPS N-CREATE / N-SET that cannot be applied (picklable across node processes)."""

    def __init__(self, refusal: Refusal, text: str) -> None:
        super().__init__(refusal, text)
        self.refusal, self.text = refusal, text

    def __str__(self) -> str:
        return self.text
