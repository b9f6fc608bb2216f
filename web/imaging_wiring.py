"""The imaging center's resources: the archive (file store + index writer) and the DICOM node,
started and stopped with the application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from imaging import worklist
from imaging.archive import Archive
from imaging.entity import NodeConfig
from imaging.node import DicomNode
from imaging.recovery import recover_unindexed
from imaging.service import NodeService
from web import keys
from web.metrics import METRICS

logger = logging.getLogger(__name__)

ARCHIVE = web.AppKey("imaging_archive", Archive)
NODE = web.AppKey("imaging_node", DicomNode)


async def imaging_ctx(app: web.Application) -> AsyncIterator[None]:
    """Create, yield, dispose: the archive always; the node unless ``dicom_port`` is 0."""
    settings = app[keys.SETTINGS]
    center = app[keys.CENTER]
    archive = Archive(
        center,
        settings.data_dir / "dicom",
        durable=settings.dicom_fsync,
    )
    archive.ingest.start()
    await recover_unindexed(archive, center)
    app[ARCHIVE] = archive
    center.end_hooks.append(worklist.discontinue)  # -- a cancelled request leaves the worklist
    node: DicomNode | None = None
    if settings.dicom_port:
        node = DicomNode(
            NodeConfig(
                aet=settings.dicom_aet,
                host=settings.dicom_host,
                port=settings.dicom_port,
                max_pdu=settings.dicom_max_pdu,
                max_data_set=settings.dicom_max_data_set_mb * 1024 * 1024,
                maximum_associations=settings.dicom_max_associations,
                max_per_peer=settings.dicom_max_associations_per_peer,
                max_connections=settings.dicom_max_connections,
                artim_s=settings.dicom_artim_seconds,
                network_timeout_s=settings.dicom_network_timeout_seconds,
                workers=settings.dicom_worker_count(),
                tls_port=settings.dicom_tls_port,
                tls_cert=str(settings.dicom_tls_cert or ""),
                tls_key=str(settings.dicom_tls_key or ""),
                tls_ca=str(settings.dicom_tls_ca or ""),
                stop_grace_s=settings.dicom_stop_grace_seconds,
            ),
            NodeService(center, archive),
            app[METRICS].dicom,
        )
        await node.start()
        app[NODE] = node
    try:
        yield
    finally:
        if worklist.discontinue in center.end_hooks:
            center.end_hooks.remove(worklist.discontinue)
        if node is not None:
            await node.stop()
        await archive.ingest.stop()
