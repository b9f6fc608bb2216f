"""DIMSE handlers: small functions bound to the node's events, each returning a DICOM status.

They run on pynetdicom's association threads, in the server process or in a node worker process.
Files are written right here (:class:`imaging.receiver.Receiver`); anything touching the database
is a blocking call on a :class:`imaging.backend.NodeBackend`. Handlers return statuses (logged
with their meaning); they do not raise.
"""

from __future__ import annotations

import logging
import socket
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, cast

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.presentation import build_context

from imaging import mwl_scp, transcode
from imaging.backend import NodeBackend
from imaging.counts import ABORTED, ACCEPTED, REJECTED, NoCounts, NodeCounts
from imaging.files import FileStore, is_uid
from imaging.find_response import to_dataset
from imaging.header import MalformedDataset, encode_file_meta
from imaging.node_values import (
    DeviceInfo,
    DifferentContent,
    InstanceRef,
    Level,
    Operation,
    QueryError,
    UidConflict,
)
from imaging.pixels import PixelDataMismatch
from imaging.receiver import Mismatch, Origin, Receiver
from imaging.sop import FIND_MODELS, MODALITY_WORKLIST_FIND, STUDY_ROOT_FIND

logger = logging.getLogger(__name__)

# Status codes (PS3.4 Annex C and GG, PS3.7 Annex C)
SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
NOT_AUTHORIZED = 0x0124  # Refused: not authorized
OUT_OF_RESOURCES = 0xA700  # Refused: out of resources
MOVE_DESTINATION_UNKNOWN = 0xA801  # Refused: move destination unknown
DATASET_MISMATCH = 0xA900  # Error: data set does not match SOP class (pixel data too)
CANNOT_UNDERSTAND = 0xC000  # Error: cannot understand
# C-STORE failures of ours in "Error: cannot understand" (C000-CFFF, PS3.4 B.2.3), the one
# failure class that neither tells the sender to retry later (A7xx, out of resources) nor
# blames its data set for not fitting its SOP class (A9xx): the instance is well formed, but
# its identity is taken; retrying cannot help, a person must reconcile (the comment says why).
UID_CONFLICT = 0xC409  # a UID is another institution's, study's or series'
DIFFERENT_CONTENT = 0xC40A  # the sender stored other content under this SOP Instance UID
MAX_COMMENT = 64  # Error Comment is LO
UNABLE_TO_PROCESS = 0xC001  # Failed: unable to process (query/retrieve)
SUBOPS_FAILED = 0xB000  # Warning: sub-operations complete, one or more failures

UNREADABLE = "unreadable"
"""Yielded for an instance whose file cannot be read: not a data set, so pynetdicom counts a
failed sub-operation (``None`` would be skipped without a count)."""

LEVEL_KEYS = {
    Level.PATIENT: "PatientID",
    Level.STUDY: "StudyInstanceUID",
    Level.SERIES: "SeriesInstanceUID",
    Level.IMAGE: "SOPInstanceUID",
}


@dataclass
class Handlers:
    """Everything the handlers need, bound once at registration."""

    backend: NodeBackend
    receiver: Receiver
    aet: str
    counts: NodeCounts = field(default_factory=NoCounts)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._devices: weakref.WeakKeyDictionary[Association, DeviceInfo] = (
            weakref.WeakKeyDictionary()
        )
        self._aborted: weakref.WeakSet[Association] = weakref.WeakSet()

    @property
    def files(self) -> FileStore:
        return self.receiver.files

    def bindings(self) -> list[tuple[Any, Any]]:
        return [
            (evt.EVT_REQUESTED, self.on_requested),
            (evt.EVT_ACCEPTED, self.on_accepted),
            (evt.EVT_REJECTED, self.on_rejected),
            (evt.EVT_ABORTED, self.on_aborted),
            (evt.EVT_C_ECHO, self.on_echo),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_C_FIND, self.on_find),
            (evt.EVT_C_GET, self.on_get),
            (evt.EVT_C_MOVE, self.on_move),
            (evt.EVT_N_CREATE, self.on_n_create),
            (evt.EVT_N_SET, self.on_n_set),
        ]

    # -- association ---------------------------------------------------------------------------

    def on_requested(self, event: evt.Event) -> None:
        """Accept only registered devices, from their registered host."""
        assoc = event.assoc
        primitive = assoc.requestor.primitive
        title = (primitive.calling_ae_title if primitive else "").strip()
        address = assoc.requestor.address
        try:
            device = self.backend.device(title)
        except Exception:  # adapter boundary: an unreachable index refuses, transiently
            logger.exception("device lookup for %s failed", title)
            _reject(assoc, 0x02)  # transient
            return
        if device is None or not _host_matches(device.host, address):
            logger.warning("rejecting association from %r at %s: unknown device", title, address)
            _reject(assoc, 0x01)  # permanent
            return
        with self._lock:
            self._devices[assoc] = device

    def on_accepted(self, event: evt.Event) -> None:
        self.counts.association(ACCEPTED)

    def on_rejected(self, event: evt.Event) -> None:
        self.counts.association(REJECTED)

    def on_aborted(self, event: evt.Event) -> None:
        """Counted once per association (an abort may be told more than once)."""
        with self._lock:
            if event.assoc in self._aborted:
                return
            self._aborted.add(event.assoc)
        self.counts.association(ABORTED)

    def device(self, event: evt.Event) -> DeviceInfo | None:
        with self._lock:
            return self._devices.get(event.assoc)

    def _allowed(self, event: evt.Event, operation: Operation) -> DeviceInfo | None:
        device = self.device(event)
        if device is None or not device.may(operation):
            logger.warning(
                "%s refused for %s: not allowed", operation, event.assoc.requestor.ae_title
            )
            return None
        return device

    # -- services ------------------------------------------------------------------------------

    def on_echo(self, event: evt.Event) -> int:
        return SUCCESS

    def on_store(self, event: evt.Event) -> int | Dataset:
        """Store one instance; counted as stored or failed with its status."""
        answer = self._store(event)
        status = answer if isinstance(answer, int) else int(answer.Status)
        if status == SUCCESS:
            self.counts.stored()
        else:
            self.counts.store_failed(status)
        return answer

    def _store(self, event: evt.Event) -> int | Dataset:
        device = self._allowed(event, Operation.STORE)
        if device is None:
            return NOT_AUTHORIZED
        request = cast(C_STORE, event.request)
        title = device.ae_title
        meta = encode_file_meta(
            str(request.AffectedSOPClassUID),
            str(request.AffectedSOPInstanceUID),
            str(event.context.transfer_syntax),
            title,
        )
        try:
            checked = self.receiver.check(
                meta,
                cast(BytesIO, request.DataSet).getbuffer(),
                str(event.context.transfer_syntax),
                sop_class_uid=str(request.AffectedSOPClassUID),
                sop_uid=str(request.AffectedSOPInstanceUID),
            )
        except (Mismatch, PixelDataMismatch) as exc:
            logger.warning("C-STORE from %s: 0xA900 data set does not match: %s", title, exc)
            return _failure(DATASET_MISMATCH, exc)
        except MalformedDataset as exc:
            logger.warning("C-STORE from %s: 0xC000 cannot understand: %s", title, exc)
            return _failure(CANNOT_UNDERSTAND, exc)
        origin = Origin(device.institution_id, device.id, f"dicom:{title}")
        try:
            self.backend.claim(checked.header, origin)
        except UidConflict as exc:
            logger.warning("C-STORE from %s: 0x%04X refused: %s", title, UID_CONFLICT, exc)
            return _failure(UID_CONFLICT, exc)
        except Exception:  # adapter boundary: the index is unreachable, transiently
            logger.exception("C-STORE from %s: 0xA700 claim failed", title)
            return OUT_OF_RESOURCES
        try:
            received = self.receiver.write(checked)
        except DifferentContent as exc:
            self.backend.release(checked.header, origin)
            logger.warning("C-STORE from %s: 0x%04X refused: %s", title, DIFFERENT_CONTENT, exc)
            return _failure(DIFFERENT_CONTENT, exc)
        except OSError:
            self.backend.release(checked.header, origin)
            logger.exception("C-STORE from %s: 0xA700 out of resources (disk)", title)
            return OUT_OF_RESOURCES
        # The file is durable: acknowledge, and let the batching writer index it (queries
        # flush the writer first, so they see every acknowledged instance).
        self.backend.index(received, origin)
        return SUCCESS

    def on_find(self, event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        device = self._allowed(event, Operation.FIND)
        if device is None:
            yield NOT_AUTHORIZED, None
            return
        syntax = UID(str(event.context.transfer_syntax))
        encoding = (syntax.is_implicit_VR, syntax.is_little_endian)
        if str(event.request.AffectedSOPClassUID) == MODALITY_WORKLIST_FIND:
            yield from mwl_scp.on_worklist_find(self.backend, device, event, encoding)
            return
        try:
            identifier = event.identifier
            level = Level(str(identifier.get("QueryRetrieveLevel", "")).strip().upper())
            model = str(event.request.AffectedSOPClassUID)
            if model == STUDY_ROOT_FIND and level is Level.PATIENT:
                raise QueryError("Study Root has no PATIENT level")
            if model not in FIND_MODELS:
                raise QueryError(f"unsupported information model {model}")
            keys = _keys(identifier)
        except (QueryError, ValueError) as exc:
            logger.warning(
                "C-FIND from %s: 0xA900 identifier does not match: %s", device.ae_title, exc
            )
            yield DATASET_MISMATCH, None
            return
        try:
            matches = self.backend.find(device, level, keys)
        except QueryError as exc:
            logger.warning("C-FIND from %s: 0xA900 bad key: %s", device.ae_title, exc)
            yield DATASET_MISMATCH, None
            return
        except Exception:  # adapter boundary
            logger.exception("C-FIND from %s: 0xC001 unable to process", device.ae_title)
            yield UNABLE_TO_PROCESS, None
            return
        for values in matches:
            if event.is_cancelled:
                yield CANCEL, None
                return
            yield (
                PENDING,
                to_dataset(values, level, empty=keys, retrieve_aet=self.aet, encoding=encoding),
            )

    def on_n_create(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        """MPPS N-CREATE (the only N-CREATE offered), from a device that may store."""
        device = self._allowed(event, Operation.STORE)
        if device is None:
            return NOT_AUTHORIZED, None
        return mwl_scp.on_mpps_create(self.backend, device, event)

    def on_n_set(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        """MPPS N-SET, from a device that may store."""
        device = self._allowed(event, Operation.STORE)
        if device is None:
            return NOT_AUTHORIZED, None
        return mwl_scp.on_mpps_set(self.backend, device, event)

    def _selection(self, event: evt.Event, device: DeviceInfo) -> list[InstanceRef]:
        identifier = event.identifier
        level = Level(str(identifier.get("QueryRetrieveLevel", "")).strip().upper())
        uids: dict[str, list[str]] = {}
        for lvl, keyword in LEVEL_KEYS.items():
            if lvl.depth > level.depth:
                break
            raw = identifier.get(keyword)
            if raw:
                values = [
                    str(v).strip() for v in (raw if not isinstance(raw, str) else raw.split("\\"))
                ]
                if keyword != "PatientID" and not all(is_uid(v) for v in values):
                    raise QueryError(f"{keyword} must be UIDs")
                uids[keyword] = values
        if LEVEL_KEYS[level] not in uids:
            raise QueryError(f"{LEVEL_KEYS[level]} is required at the {level} level")
        return self.backend.instances(device, uids)

    def _datasets(
        self,
        event: evt.Event,
        refs: list[InstanceRef],
        receiver: Callable[[], Association | None],
    ) -> Iterator[tuple[int, Dataset | str | None]]:
        """The instances, each in a syntax ``receiver()`` (the association the C-STOREs go
        over) accepted where it can be; pynetdicom counts the failed sub-operations."""
        for ref in refs:
            if event.is_cancelled:
                yield CANCEL, None
                return
            try:
                ds: Dataset = pydicom.dcmread(self.files.path(ref.path))
            except (OSError, ValueError):
                logger.exception("instance %s unreadable", ref.sop_uid)
                yield PENDING, UNREADABLE
                continue
            try:
                ds = transcode.fit(ds, _accepted(receiver(), ref.sop_class_uid))
            except transcode.NotConvertible as exc:  # sent as is: its C-STORE fails, listed
                logger.warning("instance %s cannot be sent: %s", ref.sop_uid, exc)
            yield PENDING, ds

    def on_get(self, event: evt.Event) -> Iterator[Any]:
        device = self._allowed(event, Operation.GET)
        if device is None:
            yield 0
            yield NOT_AUTHORIZED, None
            return
        try:
            refs = self._selection(event, device)
        except (QueryError, ValueError) as exc:
            logger.warning("C-GET from %s: 0xA900: %s", device.ae_title, exc)
            yield 0
            yield DATASET_MISMATCH, None
            return
        yield len(refs)
        yield from self._datasets(event, refs, lambda: event.assoc)

    def on_move(self, event: evt.Event) -> Iterator[Any]:
        device = self._allowed(event, Operation.MOVE)
        destination_title = (
            str(event.move_destination or b"", "ascii", "replace").strip()
            if isinstance(event.move_destination, bytes)
            else str(event.move_destination or "").strip()
        )
        destination = self.backend.device(destination_title) if device else None
        if device is None or destination is None:
            if device is not None:
                logger.warning(
                    "C-MOVE from %s: 0xA801 unknown destination %r",
                    device.ae_title,
                    destination_title,
                )
            yield None, None
            return
        try:
            refs = self._selection(event, device)
        except (QueryError, ValueError) as exc:
            logger.warning("C-MOVE from %s: 0xA900: %s", device.ae_title, exc)
            yield destination.host, destination.port
            yield 0
            yield DATASET_MISMATCH, None
            return
        stored: dict[str, list[str]] = {}
        for ref in refs:
            stored.setdefault(ref.sop_class_uid, []).append(ref.transfer_syntax)
        contexts = [
            build_context(sop_class, transcode.proposals(syntaxes))
            for sop_class, syntaxes in list(stored.items())[:128]
        ]
        sub = _SubAssociation()
        yield (
            destination.host,
            destination.port,
            {"contexts": contexts, "evt_handlers": [(evt.EVT_ACCEPTED, sub.on_accepted)]},
        )
        yield len(refs)
        yield from self._datasets(event, refs, lambda: sub.assoc)


class _SubAssociation:
    """The C-MOVE's association to its destination, caught when accepted (its contexts say
    which transfer syntaxes the destination takes)."""

    def __init__(self) -> None:
        self.assoc: Association | None = None

    def on_accepted(self, event: evt.Event) -> None:
        self.assoc = event.assoc


def _accepted(assoc: Association | None, sop_class_uid: str) -> set[str]:
    """The transfer syntaxes ``assoc`` accepted for ``sop_class_uid``."""
    if assoc is None:
        return set()
    return {
        str(context.transfer_syntax[0])
        for context in assoc.accepted_contexts
        if context.abstract_syntax == sop_class_uid and context.transfer_syntax
    }


def _failure(status: int, exc: Exception) -> Dataset:
    """A failure status with its reason in Error Comment (0000,0902), for the sender's log."""
    answer = Dataset()
    answer.Status = status
    text = "".join(c if " " <= c <= "~" and c != "\\" else "?" for c in str(exc))
    answer.ErrorComment = text[:MAX_COMMENT]
    return answer


def _reject(assoc: Association, result: int) -> None:
    """A-ASSOCIATE-RJ: service user, calling AE title not recognised; then wait for the DUL
    to have sent it (as pynetdicom's own rejections do, telling EVT_REJECTED)."""
    assoc.acse.send_reject(result, 0x01, 0x03)
    assoc.is_rejected = True
    evt.trigger(assoc, evt.EVT_REJECTED, {})
    assoc.kill()


def _keys(identifier: Dataset) -> dict[str, str]:
    keys: dict[str, str] = {}
    for element in identifier:
        keyword = element.keyword
        if not keyword or keyword in ("QueryRetrieveLevel", "SpecificCharacterSet"):
            continue
        if element.VR == "SQ":
            keys[keyword] = ""
            continue
        value = element.value
        if value is None:
            keys[keyword] = ""
        elif isinstance(value, str | bytes | int | float) or type(value).__name__ == "PersonName":
            keys[keyword] = str(value)
        else:
            keys[keyword] = "\\".join(str(v) for v in value)
    return keys


def _host_matches(registered: str, address: str) -> bool:
    if registered in ("*", address):
        return True
    try:
        return address in {info[4][0] for info in socket.getaddrinfo(registered, None)}
    except OSError:
        return False
