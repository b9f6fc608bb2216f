"""DICOM adapters of the modality worklist: MWL C-FIND and MPPS N-CREATE / N-SET.

They run on pynetdicom's association threads and hand the work to the event loop through the
:class:`imaging.backend.NodeBackend` (as the Query/Retrieve C-FIND does); the rules are those of
:mod:`imaging.worklist`. Every outside value is checked here or there; a bad one gets a DICOM
failure status, never an exception out of the handler.

MPPS statuses (PS3.4 F.7.2.1.4 N-CREATE, F.7.2.2.4 N-SET; PS3.7 C.4.2/C.4.3): a step that is
no longer IN PROGRESS is refused with 0110H *Processing failure* and Error ID (0000,0903) A710H
*Performed Procedure Step Object may no longer be updated*; a second N-CREATE of one SOP
Instance is 0111H *Duplicate SOP Instance*; an N-SET of an unknown one 0112H *No such SOP
Instance*; a status other than IN PROGRESS at creation, or other than COMPLETED/DISCONTINUED
afterwards, 0106H *Invalid attribute value*; no scheduled step referenced, 0120H *Missing
attribute*.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, cast

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom import evt
from pynetdicom.dimse_primitives import N_CREATE, N_SET

from imaging.backend import NodeBackend
from imaging.files import is_uid
from imaging.node_values import (
    DeviceInfo,
    QueryError,
    Refusal,
    ScheduledStep,
    StepReference,
    StepRefused,
    WorklistKeys,
)

logger = logging.getLogger(__name__)

SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
INVALID_VALUE = 0x0106
PROCESSING_FAILURE = 0x0110
DUPLICATE_INSTANCE = 0x0111
NO_SUCH_INSTANCE = 0x0112
MISSING_ATTRIBUTE = 0x0120
IDENTIFIER_MISMATCH = 0xA900
UNABLE_TO_PROCESS = 0xC001
MAY_NO_LONGER_BE_UPDATED = 0xA710  # Error ID with 0110H (PS3.4 F.7.2.2.4)
CHARACTER_SET = "ISO_IR 192"

STATUS_OF = {
    Refusal.MISSING: MISSING_ATTRIBUTE,
    Refusal.INVALID: INVALID_VALUE,
    Refusal.DUPLICATE: DUPLICATE_INSTANCE,
    Refusal.NO_SUCH_INSTANCE: NO_SUCH_INSTANCE,
    Refusal.NO_SUCH_STEP: PROCESSING_FAILURE,
    Refusal.FINAL: PROCESSING_FAILURE,
}

TOP_LEVEL = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "RequestedProcedureID",
    "RequestedProcedureDescription",
    "StudyInstanceUID",
)
STEP_LEVEL = (
    "Modality",
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepID",
    "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepStatus",
)


def _text(ds: Dataset | None, keyword: str) -> str:
    if ds is None:
        return ""
    value = ds.get(keyword)
    if value is None:
        return ""
    if not isinstance(value, str) and type(value).__name__ != "PersonName":
        if isinstance(value, bytes):
            raise QueryError(f"{keyword} is not text")
        value = "\\".join(str(v) for v in value) if hasattr(value, "__iter__") else str(value)
    text = str(value).strip()
    if "\\" in text:
        raise QueryError(f"{keyword}: list matching is not supported")
    return text


def _first_item(ds: Dataset, keyword: str) -> Dataset | None:
    items = ds.get(keyword)
    if not items:
        return None
    if not isinstance(items, Sequence):
        raise QueryError(f"{keyword} must be a sequence")
    return items[0]


def worklist_keys(identifier: Dataset) -> tuple[WorklistKeys, Dataset | None]:
    """The matching keys of an MWL identifier, and its step item (or raise QueryError)."""
    step = _first_item(identifier, "ScheduledProcedureStepSequence")
    keys = WorklistKeys(
        modality=_text(step, "Modality").upper(),
        station_aet=_text(step, "ScheduledStationAETitle"),
        start_date=_text(step, "ScheduledProcedureStepStartDate"),
        patient_id=_text(identifier, "PatientID"),
        accession=_text(identifier, "AccessionNumber"),
    )
    return keys.checked(), step


def answer(
    found: ScheduledStep,
    identifier: Dataset,
    step_item: Dataset | None,
    encoding: tuple[bool, bool],
) -> Dataset:
    """One worklist match: the requested attributes (every one we hold, if none named)."""
    values: dict[str, Any] = {
        "PatientName": found.patient_name,
        "PatientID": found.patient_id,
        "PatientBirthDate": found.birth_date,
        "PatientSex": found.sex,
        "AccessionNumber": found.accession,
        "RequestedProcedureID": found.requested_procedure_id,
        "RequestedProcedureDescription": found.description,
        "StudyInstanceUID": found.study_uid,
    }
    step_values: dict[str, Any] = {
        "Modality": found.modality,
        "ScheduledStationAETitle": found.station_aet,
        "ScheduledProcedureStepStartDate": found.start_date,
        "ScheduledProcedureStepStartTime": found.start_time,
        "ScheduledProcedureStepID": found.step_id,
        "ScheduledProcedureStepDescription": found.description,
        "ScheduledProcedureStepStatus": found.status,
    }
    asked = {e.keyword for e in identifier if e.keyword}
    asked_step = {e.keyword for e in step_item if e.keyword} if step_item is not None else set()
    ds = Dataset()
    ds.set_original_encoding(*encoding, ["utf_8"])
    ds.SpecificCharacterSet = CHARACTER_SET
    for keyword in TOP_LEVEL:
        if keyword in asked or len(asked) <= 1:
            setattr(ds, keyword, values[keyword])
    item = Dataset()
    for keyword in STEP_LEVEL:
        if keyword in asked_step or not asked_step:
            setattr(item, keyword, step_values[keyword])
    ds.ScheduledProcedureStepSequence = [item]
    return ds


def on_worklist_find(
    backend: NodeBackend, device: DeviceInfo, event: evt.Event, encoding: tuple[bool, bool]
) -> Iterator[tuple[int, Dataset | None]]:
    """MWL C-FIND: pending matches, then pynetdicom's final success."""
    try:
        identifier = event.identifier
        keys, step_item = worklist_keys(identifier)
    except (QueryError, ValueError, TypeError, AttributeError) as exc:
        logger.warning("MWL C-FIND from %s: 0xA900: %s", device.ae_title, exc)
        yield IDENTIFIER_MISMATCH, None
        return
    try:
        found = backend.worklist(device, keys)
    except QueryError as exc:
        logger.warning("MWL C-FIND from %s: 0xA900: %s", device.ae_title, exc)
        yield IDENTIFIER_MISMATCH, None
        return
    except Exception:  # adapter boundary: the index is unreachable
        logger.exception("MWL C-FIND from %s: 0xC001 unable to process", device.ae_title)
        yield UNABLE_TO_PROCESS, None
        return
    for step in found:
        if event.is_cancelled:
            yield CANCEL, None
            return
        yield PENDING, answer(step, identifier, step_item, encoding)


def _refused(status: int, text: str, *, error_id: int | None = None) -> Dataset:
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = "".join(c if " " <= c <= "~" and c != "\\" else "?" for c in text)[:64]
    if error_id is not None:
        ds.ErrorID = error_id
    return ds


def _refusal(exc: StepRefused) -> Dataset:
    status = STATUS_OF[exc.refusal]
    error_id = MAY_NO_LONGER_BE_UPDATED if exc.refusal is Refusal.FINAL else None
    return _refused(status, exc.text, error_id=error_id)


def _reference(attributes: Dataset) -> StepReference:
    item = _first_item(attributes, "ScheduledStepAttributesSequence")
    study_uid = _text(item, "StudyInstanceUID")
    if study_uid and not is_uid(study_uid):
        raise QueryError("StudyInstanceUID is not a UID")
    return StepReference(
        study_uid=study_uid,
        accession=_text(item, "AccessionNumber")[:16],
        step_id=_text(item, "ScheduledProcedureStepID")[:16],
    )


def on_mpps_create(
    backend: NodeBackend, device: DeviceInfo, event: evt.Event
) -> tuple[int | Dataset, Dataset | None]:
    """MPPS N-CREATE: the referenced scheduled step is IN PROGRESS."""
    uid = str(cast(N_CREATE, event.request).AffectedSOPInstanceUID or "").strip()
    try:
        if not is_uid(uid):
            raise QueryError("Affected SOP Instance UID is required (the SCU assigns it)")
        attributes = event.attribute_list
        ref = _reference(attributes)
        status = _text(attributes, "PerformedProcedureStepStatus").upper()
    except (QueryError, ValueError, TypeError, AttributeError) as exc:
        logger.warning("MPPS N-CREATE from %s: 0x0106: %s", device.ae_title, exc)
        return _refused(INVALID_VALUE, str(exc)), None
    try:
        backend.mpps_create(device, uid, ref, status)
    except StepRefused as exc:
        logger.warning("MPPS N-CREATE from %s refused: %s", device.ae_title, exc)
        return _refusal(exc), None
    except Exception:  # adapter boundary
        logger.exception("MPPS N-CREATE from %s: 0x0110", device.ae_title)
        return _refused(PROCESSING_FAILURE, "unable to process"), None
    return SUCCESS, attributes


def on_mpps_set(
    backend: NodeBackend, device: DeviceInfo, event: evt.Event
) -> tuple[int | Dataset, Dataset | None]:
    """MPPS N-SET: COMPLETED or DISCONTINUED ends the step; a final one is not updated."""
    uid = str(cast(N_SET, event.request).RequestedSOPInstanceUID or "").strip()
    try:
        if not is_uid(uid):
            raise QueryError("Requested SOP Instance UID is not a UID")
        modifications = event.modification_list
        status = _text(modifications, "PerformedProcedureStepStatus").upper()
    except (QueryError, ValueError, TypeError, AttributeError) as exc:
        logger.warning("MPPS N-SET from %s: 0x0106: %s", device.ae_title, exc)
        return _refused(INVALID_VALUE, str(exc)), None
    try:
        backend.mpps_set(device, uid, status)
    except StepRefused as exc:
        logger.warning("MPPS N-SET from %s refused: %s", device.ae_title, exc)
        return _refusal(exc), None
    except Exception:  # adapter boundary
        logger.exception("MPPS N-SET from %s: 0x0110", device.ae_title)
        return _refused(PROCESSING_FAILURE, "unable to process"), None
    return SUCCESS, modifications
