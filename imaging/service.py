"""What the DICOM node asks of the server process: who a device is, index rows, queries.

The node's association threads (in this process, or in node worker processes) reach these
through a :class:`imaging.backend.NodeBackend`; everything here runs on the event loop, the one
place that touches the database.
"""

from __future__ import annotations

from typing import Any

from consult.center import Center
from consult.principal import SYSTEM
from imaging import devices, query
from imaging import worklist as mwl
from imaging.archive import Archive
from imaging.header import InstanceHeader
from imaging.node_values import DeviceInfo, Level, ScheduledStep, StepReference, WorklistKeys
from imaging.receiver import Origin, Received

UidSelection = dict[str, list[str]]
"""Retrieve keys: ``PatientID``/``StudyInstanceUID``/``SeriesInstanceUID``/``SOPInstanceUID``."""


class NodeService:
    """The node's questions, answered with the center's database (coroutines on the loop)."""

    def __init__(self, center: Center, archive: Archive) -> None:
        self.center = center
        self.archive = archive

    async def device(self, title: str) -> DeviceInfo | None:
        """The registered device calling as ``title`` (``None``: unknown)."""
        async with self.center.work(SYSTEM, client=f"dicom:{title}"[:64]) as work:
            return await devices.by_title(work, title)

    async def claim(self, header: InstanceHeader, origin: Origin) -> None:
        """Grant an arriving instance's UIDs to its sender, or raise
        :class:`imaging.ownership.UidConflict`."""
        await self.archive.claim(header, origin)

    def release(self, header: InstanceHeader, origin: Origin) -> None:
        """Give up a claim whose file was not written (a plain call on the loop)."""
        self.archive.release(header, origin)

    def index(self, received: Received, origin: Origin) -> None:
        """Queue a durable file's index row (a plain call on the loop, no waiting)."""
        self.archive.index_nowait(received, origin)

    async def find(
        self, device: DeviceInfo, level: Level, keys: dict[str, str]
    ) -> list[dict[str, Any]]:
        """C-FIND: the matching entities' values, within what ``device`` may see."""
        await self.archive.flush()
        async with self.center.work(SYSTEM, client=f"dicom:{device.ae_title}") as work:
            return await query.find(work, level, keys, query.device_scope(device))

    async def instances(self, device: DeviceInfo, uids: UidSelection) -> list[query.InstanceRef]:
        """C-MOVE / C-GET: the instances selected by ``uids`` (audited as a retrieval)."""
        await self.archive.flush()
        async with self.center.work(SYSTEM, client=f"dicom:{device.ae_title}") as work:
            return await query.instances(
                work,
                query.device_scope(device),
                patient_ids=uids.get("PatientID"),
                study_uids=uids.get("StudyInstanceUID"),
                series_uids=uids.get("SeriesInstanceUID"),
                sop_uids=uids.get("SOPInstanceUID"),
                action="imaging.retrieve",
            )

    async def worklist(self, device: DeviceInfo, keys: WorklistKeys) -> list[ScheduledStep]:
        """Modality Worklist C-FIND: the steps scheduled at ``device``'s institution."""
        async with self.center.work(SYSTEM, client=f"dicom:{device.ae_title}") as work:
            return await mwl.find(work, device, keys)

    async def mpps_create(
        self, device: DeviceInfo, mpps_uid: str, ref: StepReference, status: str
    ) -> str:
        """MPPS N-CREATE (raises :class:`imaging.worklist.StepRefused`)."""
        async with self.center.work(SYSTEM, client=f"dicom:{device.ae_title}") as work:
            return await mwl.begin(work, device, mpps_uid, ref, status)

    async def mpps_set(self, device: DeviceInfo, mpps_uid: str, status: str) -> str:
        """MPPS N-SET (raises :class:`imaging.worklist.StepRefused`)."""
        async with self.center.work(SYSTEM, client=f"dicom:{device.ae_title}") as work:
            return await mwl.finish(work, device, mpps_uid, status)
