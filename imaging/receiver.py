"""Received bytes become a checked instance file on disk.

:class:`Receiver` is synchronous and runs where the bytes arrive: a DICOM association thread
(in the server process or in a node worker process) or a worker thread for STOW. In two steps,
with the UIDs claimed in between (:class:`imaging.ownership.Ownership`): :meth:`Receiver.check`
walks the structure, reads the header before the pixel data and checks the pixel data against
the image attributes; :meth:`Receiver.write` writes the bytes as received, never over another
file. It needs no database: the index row follows from :class:`imaging.archive.Archive`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from pydicom.uid import DeflatedExplicitVRLittleEndian

from imaging.files import FileStore
from imaging.header import (
    InstanceHeader,
    MalformedDataset,
    check_structure,
    fast_header,
    read_dataset_header,
    split_part10,
)
from imaging.node_values import DifferentContent
from imaging.pixels import check_pixels
from imaging.walk import inflate, pixel_element, walk_syntax

logger = logging.getLogger(__name__)

PREAMBLE = b"\x00" * 128 + b"DICM"


class Mismatch(MalformedDataset):
    """The data set's SOP Class / Instance differs from what the command announced."""


@dataclass(frozen=True)
class Received:
    header: InstanceHeader
    path: str
    size: int
    written: bool = True
    """False: an identical instance file was already there (a re-send), nothing written."""


@dataclass(frozen=True)
class Origin:
    institution_id: int
    device_id: int | None
    source: str


@dataclass(frozen=True)
class Checked:
    """An instance that passed the checks, not written yet."""

    header: InstanceHeader
    path: str
    chunks: tuple[bytes | memoryview, ...]
    """The file's bytes as they will be written."""
    dataset: memoryview
    """The encoded data set (what a re-send must repeat exactly)."""


def check_dataset(dataset: bytes | memoryview, transfer_syntax: str) -> InstanceHeader:
    """Walk, read and check an encoded data set (pixels included); return its header.

    Raises
    ------
    MalformedDataset
        Truncated or unparseable, UIDs missing or invalid, pixel data not matching the image
        attributes (:class:`imaging.pixels.PixelDataMismatch`).
    """
    walked_as = walk_syntax(transfer_syntax)
    plain = inflate(dataset) if transfer_syntax == DeflatedExplicitVRLittleEndian else dataset
    found: dict[int, bytes] = {}
    pixel_offset = check_structure(plain, walked_as, found)
    header = fast_header(found, walked_as, transfer_syntax) or read_dataset_header(
        bytes(memoryview(plain)[:pixel_offset]), walked_as, transfer_syntax
    )
    check_pixels(header, pixel_element(plain, pixel_offset, walked_as))
    return header


class Receiver:
    """Check instances and write them, as received, to ``files``."""

    def __init__(self, files: FileStore) -> None:
        self.files = files

    def check(
        self,
        meta: bytes,
        dataset: bytes | memoryview,
        transfer_syntax: str,
        *,
        sop_class_uid: str = "",
        sop_uid: str = "",
    ) -> Checked:
        """Check one instance: ``meta`` is the preamble and file meta, ``dataset`` the encoded
        data set exactly as received (it is written without re-encoding).

        Raises
        ------
        MalformedDataset
            As :func:`check_dataset`, or not what the command announced (:class:`Mismatch`).
        """
        header = check_dataset(dataset, transfer_syntax)
        if sop_uid and header.sop_uid != sop_uid.strip():
            raise Mismatch(
                f"SOP Instance UID {header.sop_uid} differs from the command's {sop_uid}"
            )
        if sop_class_uid and header.sop_class_uid != sop_class_uid.strip():
            raise Mismatch(f"SOP Class UID {header.sop_class_uid} differs from the command's")
        path = self.files.relative_path(header.study_uid, header.sop_uid)
        return Checked(header, path, (meta, dataset), memoryview(dataset))

    def check_file(self, data: bytes, *, study_uid: str = "") -> Checked:
        """Check a DICOM file (PS3.10) as received (STOW-RS)."""
        transfer_syntax, offset = split_part10(data)
        view = memoryview(data)
        header = check_dataset(view[offset:], transfer_syntax)
        if study_uid and header.study_uid != study_uid:
            raise Mismatch(f"instance {header.sop_uid} belongs to another study")
        path = self.files.relative_path(header.study_uid, header.sop_uid)
        prefixed = bytes(view[128:132]) == b"DICM"
        return Checked(header, path, (data,) if prefixed else (PREAMBLE, data), view[offset:])

    def write(self, checked: Checked) -> Received:
        """Write a checked instance whose UIDs are claimed. A re-send finds its file and
        writes nothing: the very same data set, or the same instance in another transfer
        syntax (a SOP instance is its UID; the encoding stored first is kept).

        Raises
        ------
        DifferentContent
            Another data set is stored under this SOP Instance UID in the same transfer
            syntax: the sender changed an instance without giving it a new UID (the stored
            one stays as it was).
        OSError
            The disk refused the write.
        """
        try:
            if not self.files.exists(checked.path):
                size = self.files.write(checked.path, checked.chunks)
                return Received(checked.header, checked.path, size)
        except FileExistsError:
            pass  # written by a concurrent sender between the look and the link
        stored = self.files.read(checked.path)
        try:
            transfer_syntax, offset = split_part10(stored)
        except MalformedDataset:
            transfer_syntax, offset = "", len(stored)
        header = checked.header
        if transfer_syntax == header.transfer_syntax:
            if memoryview(stored)[offset:] != checked.dataset:
                raise DifferentContent(
                    f"SOP Instance UID is already stored with other content ({header.sop_uid})"
                )
        elif transfer_syntax:
            logger.info(
                "%s re-sent in %s: the copy in %s is kept",
                header.sop_uid,
                header.transfer_syntax,
                transfer_syntax,
            )
            header = replace(header, transfer_syntax=transfer_syntax)
        else:
            raise DifferentContent(f"SOP Instance UID {header.sop_uid}: stored file unreadable")
        return Received(header, checked.path, len(stored), written=False)
