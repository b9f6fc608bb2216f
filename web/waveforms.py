"""ECG waveforms that arrive over DICOM go to the ECG center too.

The imaging archive stores and indexes every instance; for 12-lead, general and ambulatory ECG
waveform instances whose patient is known, this bridge hands the file to the same ECG ingest as
an upload: analysis, the ECG-read request (the one the archive linked by
:func:`consult.identity.match`, else opened for the sending clinic), triage and alerts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import select

from consult.identity import acting_for
from consult.models import Institution
from consult.principal import SYSTEM
from ecg.pipeline import EcgIngest, Upload
from imaging.archive import Archive
from imaging.index import ImagingInstance, ImagingSeries, ImagingStudy
from imaging.ingest import Arrival, Stored
from imaging.sop import ECG_WAVEFORMS
from web.ecg_wiring import ECG_INGEST
from web.imaging_wiring import ARCHIVE

logger = logging.getLogger(__name__)
BRIDGE: web.AppKey[WaveformBridge] = web.AppKey("waveform_bridge")


class WaveformBridge:
    """The imaging ingest's after-index listener for ECG waveforms."""

    def __init__(self, archive: Archive, ecg: EcgIngest) -> None:
        self.archive, self.ecg = archive, ecg

    async def __call__(self, indexed: list[tuple[Arrival, Stored]]) -> None:
        for arrival, stored in indexed:
            if arrival.header.sop_class_uid in ECG_WAVEFORMS and not stored.duplicate:
                await self._analyse(arrival, stored)

    async def _analyse(self, arrival: Arrival, stored: Stored) -> None:
        await self._ingest(
            stored.study_pk,
            arrival.institution_id,
            arrival.path,
            arrival.header.sop_uid,
            arrival.source,
        )

    async def study_resolved(self, study_pk: int) -> None:
        """A reconciler assigned a DICOM ECG study to its patient: its waveforms go to the ECG
        center now (they waited, unanalysed, while the study was unfiled)."""
        async with self.ecg.center.work(SYSTEM, client="reconcile") as work:
            rows = (
                await work.session.execute(
                    select(
                        ImagingInstance.path, ImagingInstance.sop_uid, ImagingStudy.institution_id
                    )
                    .join(ImagingSeries, ImagingSeries.id == ImagingInstance.series_id)
                    .join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
                    .where(
                        ImagingStudy.id == study_pk,
                        ImagingInstance.sop_class_uid.in_(ECG_WAVEFORMS),
                    )
                )
            ).all()
        for path, sop_uid, institution_id in rows:
            await self._ingest(study_pk, institution_id, path, sop_uid, "dicom:reconciled")

    async def _ingest(
        self, study_pk: int, institution_id: int, path: str, sop_uid: str, source: str
    ) -> None:
        center = self.ecg.center
        async with center.work(client=source[:64]) as work:
            study = await work.session.get(ImagingStudy, study_pk)
            institution = await work.session.get(Institution, institution_id)
            if study is None or study.patient_id is None or institution is None:
                logger.info("ECG waveform %s waits for reconciliation", sop_uid)
                return
            request_id = study.request_id  # linked by consult.identity.match, or None
            principal = await acting_for(work, institution)
            patient_id = study.patient_id
        data = await asyncio.to_thread(self.archive.files.path(path).read_bytes)
        upload = Upload(
            data=data,
            filename=f"{sop_uid}.dcm",
            patient_id=patient_id,
            request_id=request_id,
            source=source[:32],
        )
        result = await self.ecg.ingest(principal, upload, client=source[:64])
        logger.info(
            "DICOM ECG %s -> ECG %s (request %s)",
            sop_uid,
            result.recording.id,
            result.request.identifier,
        )


async def bridge_ctx(app: web.Application) -> AsyncIterator[None]:
    """Connect the imaging archive's index writer to the ECG ingest."""
    bridge = WaveformBridge(app[ARCHIVE], app[ECG_INGEST])
    app[BRIDGE] = bridge
    app[ARCHIVE].ingest.on_indexed = bridge
    yield
    app[ARCHIVE].ingest.on_indexed = None
