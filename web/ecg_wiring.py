"""The ECG center in the application: the ingest service and its key."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from consult.filestore import ContentStore
from ecg.interpret import CriticalThresholds
from ecg.pipeline import EcgIngest
from ecg.reading import require_seen
from ecg.tracings import Tracings
from web import keys
from web.metrics import METRICS

ECG_INGEST = web.AppKey("ecg_ingest", EcgIngest)
TRACINGS = web.AppKey("ecg_tracings", Tracings)  # -- long ECG reading --


async def ecg_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    thresholds = CriticalThresholds(
        brady_bpm=settings.ecg_brady_bpm,
        tachy_bpm=settings.ecg_tachy_bpm,
        pause_s=settings.ecg_pause_s,
        af_rvr_bpm=settings.ecg_af_rvr_bpm,
    )
    app[ECG_INGEST] = EcgIngest(
        app[keys.CENTER],
        ContentStore(settings.data_dir / "ecg"),
        app[keys.EXECUTOR],
        thresholds,
        counts=app[METRICS].ecg,
        max_duration_s=settings.ecg_max_duration_hours * 3600,
        max_expanded_bytes=settings.ecg_max_expanded_mb << 20,
    )
    # -- long ECG reading: decoded tracings, and no report signed on an unseen tracing --
    app[TRACINGS] = Tracings(
        settings.data_dir / "ecg-tracings", app[ECG_INGEST].files, app[keys.EXECUTOR]
    )
    app[keys.CENTER].sign_checks.append(require_seen)
    yield
    if require_seen in app[keys.CENTER].sign_checks:
        app[keys.CENTER].sign_checks.remove(require_seen)
