"""The archive: received bytes become a checked file on disk, then an index row.

:meth:`Archive.receive` is synchronous and runs where the bytes arrive (a DICOM association
thread, or a worker thread for STOW): it checks the structure, reads the header before Pixel
Data, and writes the bytes as received. :meth:`Archive.index` (a coroutine, on the event loop)
hands the file to the batching index writer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from consult.center import Center
from imaging.files import FileStore
from imaging.header import (
    InstanceHeader,
    MalformedDataset,
    check_structure,
    fast_header,
    read_header,
    split_part10,
)
from imaging.ingest import Arrival, Ingest, Stored

logger = logging.getLogger(__name__)

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


class Archive:
    """Store instance files and index them."""

    def __init__(self, center: Center, root: Path, *, durable: bool = True) -> None:
        self.files = FileStore(root, durable=durable)
        self.ingest = Ingest(center)

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

    def index_later(
        self, received: Received, origin: Origin, loop: asyncio.AbstractEventLoop
    ) -> None:
        """From another thread: queue the index row without waiting for its commit."""
        loop.call_soon_threadsafe(self.ingest.put_nowait, _arrival(received, origin))

    async def flush(self) -> None:
        """Wait until every instance received so far is in the index."""
        await self.ingest.flush()

    async def index(self, received: Received, origin: Origin) -> Stored:
        """Enter a written file into the index (batched with its neighbours)."""
        return await self.ingest.submit(_arrival(received, origin))


def _arrival(received: Received, origin: Origin) -> Arrival:
    return Arrival(
        header=received.header,
        path=received.path,
        size=received.size,
        institution_id=origin.institution_id,
        device_id=origin.device_id,
        source=origin.source,
    )
