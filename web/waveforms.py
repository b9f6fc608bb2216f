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

from consult.identity import acting_for
from consult.models import Institution
from ecg.pipeline import EcgIngest, Upload
from imaging.archive import Archive
from imaging.index import ImagingStudy
from imaging.ingest import Arrival, Stored
from imaging.sop import ECG_WAVEFORMS
from web.ecg_wiring import ECG_INGEST
from web.imaging_wiring import ARCHIVE

logger = logging.getLogger(__name__)


class WaveformBridge:
    """The imaging ingest's after-index listener for ECG waveforms."""

    def __init__(self, archive: Archive, ecg: EcgIngest) -> None:
        self.archive, self.ecg = archive, ecg

    async def __call__(self, indexed: list[tuple[Arrival, Stored]]) -> None:
        for arrival, stored in indexed:
            if arrival.header.sop_class_uid in ECG_WAVEFORMS and not stored.duplicate:
                await self._analyse(arrival, stored)

    async def _analyse(self, arrival: Arrival, stored: Stored) -> None:
        center = self.ecg.center
        async with center.work(client=arrival.source[:64]) as work:
            study = await work.session.get(ImagingStudy, stored.study_pk)
            institution = await work.session.get(Institution, arrival.institution_id)
            if study is None or study.patient_id is None or institution is None:
                logger.info("ECG waveform %s waits for reconciliation", arrival.header.sop_uid)
                return
            request_id = study.request_id  # linked by consult.identity.match, or None
            principal = await acting_for(work, institution)
            patient_id = study.patient_id
        data = await asyncio.to_thread(self.archive.files.path(arrival.path).read_bytes)
        upload = Upload(
            data=data,
            filename=f"{arrival.header.sop_uid}.dcm",
            patient_id=patient_id,
            request_id=request_id,
            source=arrival.source[:32],
        )
        result = await self.ecg.ingest(principal, upload, client=arrival.source[:64])
        logger.info(
            "DICOM ECG %s -> ECG %s (request %s)",
            arrival.header.sop_uid,
            result.recording.id,
            result.request.identifier,
        )


async def bridge_ctx(app: web.Application) -> AsyncIterator[None]:
    """Connect the imaging archive's index writer to the ECG ingest."""
    app[ARCHIVE].ingest.on_indexed = WaveformBridge(app[ARCHIVE], app[ECG_INGEST])
    yield
    app[ARCHIVE].ingest.on_indexed = None
