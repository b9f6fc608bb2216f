"""The archive: instance files (:class:`imaging.receiver.Receiver`) and their index rows.

Every door stores the same way: check the bytes, claim the UIDs for the sender's institution
(:class:`imaging.ownership.Ownership`, refused when they are another's), write the file (never
over another), then index it. Files are written where the bytes arrive; the claim and the index
run on the event loop, where the batching index writer is.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from consult.center import Center
from imaging.files import FileStore
from imaging.header import InstanceHeader
from imaging.ingest import Arrival, Ingest, Stored
from imaging.node_values import DifferentContent, UidConflict
from imaging.receiver import Mismatch, Origin, Received, Receiver

__all__ = ["Archive", "DifferentContent", "Mismatch", "Origin", "Received", "UidConflict"]

logger = logging.getLogger(__name__)


class Archive:
    """Store instance files and index them."""

    def __init__(self, center: Center, root: Path, *, durable: bool = True) -> None:
        self.receiver = Receiver(FileStore(root, durable=durable))
        self.ingest = Ingest(center, self.receiver.files)

    @property
    def files(self) -> FileStore:
        return self.receiver.files

    async def claim(self, header: InstanceHeader, origin: Origin) -> None:
        """Grant the instance's UIDs to the sender's institution, or raise
        :class:`UidConflict` (they are another institution's, study's or series')."""
        await self.ingest.ownership.claim(header, origin.institution_id)

    def release(self, header: InstanceHeader, origin: Origin) -> None:
        """Give a claim up (its file could not be written)."""
        self.ingest.ownership.release(header, origin.institution_id, committed=False)

    async def store_file(self, data: bytes, origin: Origin, *, study_uid: str = "") -> Stored:
        """Check, claim, write and index a DICOM file (PS3.10) as received (STOW-RS).

        Raises
        ------
        MalformedDataset
            Not a readable instance (or not of ``study_uid``), pixel data not matching.
        UidConflict
            Its UIDs are another's (:class:`DifferentContent`: the sender stored another
            instance under its SOP Instance UID); nothing is written.
        """
        checked = await asyncio.to_thread(self.receiver.check_file, data, study_uid=study_uid)
        await self.claim(checked.header, origin)
        try:
            received = await asyncio.to_thread(self.receiver.write, checked)
        except BaseException:
            self.release(checked.header, origin)
            raise
        return await self.index(received, origin)

    def index_nowait(self, received: Received, origin: Origin) -> None:
        """Queue the index row without waiting for its commit (call on the event loop)."""
        self.ingest.put_nowait(_arrival(received, origin))

    async def flush(self) -> None:
        """Wait until every instance received so far is in the index."""
        await self.ingest.flush()

    async def index(self, received: Received, origin: Origin) -> Stored:
        """Enter a written file, whose UIDs were claimed, into the index (batched)."""
        return await self.ingest.submit(_arrival(received, origin))


def _arrival(received: Received, origin: Origin) -> Arrival:
    return Arrival(
        header=received.header,
        path=received.path,
        size=received.size,
        institution_id=origin.institution_id,
        device_id=origin.device_id,
        source=origin.source,
        claimed=True,
        written=received.written,
    )
