"""Received bytes become a checked instance file on disk.

:class:`Receiver` is synchronous and runs where the bytes arrive: a DICOM association thread
(in the server process or in a node worker process) or a worker thread for STOW. It checks the
structure, reads the header before Pixel Data, and writes the bytes as received. It needs no
database: the index row follows from :class:`imaging.archive.Archive`.
"""

from __future__ import annotations

from dataclasses import dataclass

from imaging.files import FileStore
from imaging.header import (
    InstanceHeader,
    MalformedDataset,
    check_structure,
    fast_header,
    read_header,
    split_part10,
)

PREAMBLE = b"\x00" * 128 + b"DICM"


class Mismatch(MalformedDataset):
    """The data set's SOP Class / Instance differs from what the command announced."""


@dataclass(frozen=True)
class Received:
    header: InstanceHeader
    path: str
    size: int


@dataclass(frozen=True)
class Origin:
    institution_id: int
    device_id: int | None
    source: str


class Receiver:
    """Check instances and write them, as received, to ``files``."""

    def __init__(self, files: FileStore) -> None:
        self.files = files

    def receive(
        self,
        meta: bytes,
        dataset: bytes | memoryview,
        transfer_syntax: str,
        *,
        sop_class_uid: str = "",
        sop_uid: str = "",
    ) -> Received:
        """Check and write one instance: ``meta`` is the preamble and file meta, ``dataset``
        the encoded data set exactly as received (it is written without re-encoding).

        Raises
        ------
        MalformedDataset
            Truncated or unparseable, missing UIDs, or not what the command announced.
        OSError
            The disk refused the write.
        """
        found: dict[int, bytes] = {}
        pixel_offset = check_structure(dataset, transfer_syntax, found)
        header = fast_header(found, transfer_syntax) or read_header(
            meta + bytes(memoryview(dataset)[:pixel_offset]), transfer_syntax
        )
        if sop_uid and header.sop_uid != sop_uid.strip():
            raise Mismatch(
                f"SOP Instance UID {header.sop_uid} differs from the command's {sop_uid}"
            )
        if sop_class_uid and header.sop_class_uid != sop_class_uid.strip():
            raise Mismatch(f"SOP Class UID {header.sop_class_uid} differs from the command's")
        path = self.files.relative_path(header.study_uid, header.sop_uid)
        size = self.files.write(path, (meta, dataset))
        return Received(header, path, size)

    def receive_file(self, data: bytes, *, study_uid: str = "") -> Received:
        """Check and write a DICOM file (PS3.10) as received (STOW-RS)."""
        transfer_syntax, offset = split_part10(data)
        view = memoryview(data)
        pixel_offset = check_structure(view[offset:], transfer_syntax)
        prefixed = bytes(view[128:132]) == b"DICM"
        head = bytes(view[: offset + pixel_offset])
        header = read_header(head if prefixed else PREAMBLE + head, transfer_syntax)
        if study_uid and header.study_uid != study_uid:
            raise Mismatch(f"instance {header.sop_uid} belongs to another study")
        path = self.files.relative_path(header.study_uid, header.sop_uid)
        size = self.files.write(path, (data,) if prefixed else (PREAMBLE, data))
        return Received(header, path, size)
