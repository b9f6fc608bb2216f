"""The archive: instance files (:class:`imaging.receiver.Receiver`) and their index rows.

Files are written where the bytes arrive; :meth:`Archive.index` (a coroutine, on the event loop)
hands each written file to the batching index writer.
"""

from __future__ import annotations

import logging
from pathlib import Path

from consult.center import Center
from imaging.files import FileStore
from imaging.ingest import Arrival, Ingest, Stored
from imaging.receiver import Mismatch, Origin, Received, Receiver

__all__ = ["Archive", "Mismatch", "Origin", "Received"]

logger = logging.getLogger(__name__)


class Archive:
    """Store instance files and index them."""

    def __init__(self, center: Center, root: Path, *, durable: bool = True) -> None:
        self.receiver = Receiver(FileStore(root, durable=durable))
        self.ingest = Ingest(center)

    @property
    def files(self) -> FileStore:
        return self.receiver.files

    def receive_file(self, data: bytes, *, study_uid: str = "") -> Received:
        """Check and write a DICOM file (PS3.10) as received (STOW-RS)."""
        return self.receiver.receive_file(data, study_uid=study_uid)

    def index_nowait(self, received: Received, origin: Origin) -> None:
        """Queue the index row without waiting for its commit (call on the event loop)."""
        self.ingest.put_nowait(_arrival(received, origin))

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
