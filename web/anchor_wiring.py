"""Wiring of the audit chain's anchors: the key, the directory and the exporting task, as a
``cleanup_ctx`` generator (after the database's). Every node anchors into its own directory, so
there is no lease: anchors only move forward, and nodes sharing a directory (and the key) just
take turns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from consult.anchors import AnchorDir, AnchorExporter, AnchorKeyError, load_or_create_key
from web import keys
from web.settings import SettingsError

logger = logging.getLogger(__name__)


async def anchor_ctx(app: web.Application) -> AsyncIterator[None]:
    """Every ``audit_anchor_seconds``, and once more at shutdown, anchor the chain's head."""
    settings, center = app[keys.SETTINGS], app[keys.CENTER]
    try:
        key = await asyncio.to_thread(load_or_create_key, settings.anchor_key_path)
    except AnchorKeyError as exc:
        raise SettingsError(f"audit_anchor_key: {exc}") from None
    directory = AnchorDir(settings.anchor_dir_path, keep=settings.audit_anchor_keep)
    exporter = AnchorExporter(center.audit_log, directory, key, node=settings.node_address)
    app[keys.ANCHORS] = exporter
    task = asyncio.create_task(_every(settings.audit_anchor_seconds, exporter), name="anchor")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await center.audit_log.drain()  # the last actions sealed, then anchored
    await _export(exporter)


async def _every(seconds: float, exporter: AnchorExporter) -> None:
    while True:
        await asyncio.sleep(seconds)
        await _export(exporter)


async def _export(exporter: AnchorExporter) -> None:
    try:
        await exporter.export()
    except Exception:  # a background task at the boundary: log and carry on
        logger.exception("anchoring the audit chain failed")
