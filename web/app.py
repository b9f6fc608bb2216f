"""The application: the one place that knows every part and wires them together.

Resources live in ``cleanup_ctx`` generators (create, yield, dispose) and are reached through the
typed keys in :mod:`web.keys`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from sqlalchemy import text

from consult import demo, migrate
from consult import requests as requests_
from consult.center import Center
from consult.db import make_engine, make_session_factory
from web import keys
from web.api import Endpoints, add_endpoints
from web.auth import auth_middleware
from web.dicomweb import endpoints as dicomweb_endpoints
from web.ecg_wiring import ecg_ctx
from web.errors import error_middleware
from web.imaging_wiring import imaging_ctx
from web.lab_wiring import lab_ctx
from web.metrics import Metrics
from web.openapi import build_openapi
from web.pages import add_pages
from web.rooms_wiring import room_ws, rooms_ctx
from web.routes import admin, audit, auth, notifications, patients, referrals, reports, requests
from web.routes import ecg as ecg_routes
from web.routes import ecg_reading as ecg_reading_routes  # -- long ECG reading --
from web.routes import imaging as imaging_routes
from web.routes import lab as lab_routes
from web.routes import rooms as rooms_routes
from web.settings import Settings
from web.waveforms import bridge_ctx

logger = logging.getLogger(__name__)

METRICS = web.AppKey("metrics", Metrics)
OPENAPI = web.AppKey("openapi", dict)
TABLES: list[Endpoints] = [
    auth.endpoints,
    admin.endpoints,
    patients.endpoints,
    requests.endpoints,
    reports.endpoints,
    referrals.endpoints,
    notifications.endpoints,
    audit.endpoints,
    ecg_routes.endpoints,
    ecg_reading_routes.endpoints,  # -- long ECG reading --
    rooms_routes.endpoints,
    lab_routes.endpoints,
    imaging_routes.endpoints,
    dicomweb_endpoints,
]


def app_version() -> str:
    try:
        return version("telecenter")
    except PackageNotFoundError:
        return "0+unknown"


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """The engine, the schema, the center; demo data when asked for."""
    settings = app[keys.SETTINGS]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url, schema=settings.database_schema or None)
    await migrate.prepare(engine)
    center = Center(make_session_factory(engine), policy=settings.policy())
    app[keys.ENGINE] = engine
    app[keys.CENTER] = center
    app[METRICS].ws_subscribers.set_function(center.bus.subscriber_count)
    if settings.demo:
        await demo.seed(center)
    yield
    await center.audit_log.drain()
    await engine.dispose()


async def executor_ctx(app: web.Application) -> AsyncIterator[None]:
    """The pool for CPU-heavy work (ECG analysis, image rendering): processes by default.

    Workers fork from a server process that has already imported the numerical stack, so a new
    worker is ready in milliseconds; ``worker_kind = "thread"`` keeps everything in-process.
    """
    settings = app[keys.SETTINGS]
    pool: Executor
    if settings.worker_kind == "thread":
        pool = ThreadPoolExecutor(max_workers=settings.worker_processes, thread_name_prefix="cpu")
    else:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(
            ["numpy", "scipy.signal", "ecg.analysis", "ecg.readers", "imaging.render"]
        )
        pool = ProcessPoolExecutor(max_workers=settings.worker_processes, mp_context=context)
    app[keys.EXECUTOR] = pool
    yield
    pool.shutdown(wait=False, cancel_futures=True)


async def overdue_ctx(app: web.Application) -> AsyncIterator[None]:
    """A background task that flags overdue requests."""
    center, interval = app[keys.CENTER], app[keys.SETTINGS].overdue_check_seconds

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                async with center.work(client="overdue") as work:
                    await requests_.flag_overdue(work)
            except Exception:  # a background task at the boundary: log and carry on
                logger.exception("overdue check failed")

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[keys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        db = "ok"
    except Exception:  # health reporting boundary
        logger.exception("health check: database unreachable")
        db = "unreachable"
    status = 200 if db == "ok" else 503
    return web.json_response(
        {"status": "ok" if db == "ok" else "degraded", "database": db, "version": app_version()},
        status=status,
    )


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def create_app(settings: Settings) -> web.Application:
    """Build the application for ``settings``."""
    metrics = Metrics()
    app = web.Application(
        middlewares=[error_middleware, metrics.middleware(), auth_middleware],
        client_max_size=settings.max_upload_mb * 1024 * 1024,
    )
    app[keys.SETTINGS] = settings
    app[METRICS] = metrics
    app.cleanup_ctx.extend(
        [
            database_ctx,
            executor_ctx,
            overdue_ctx,
            ecg_ctx,
            imaging_ctx,
            bridge_ctx,
            lab_ctx,
            rooms_ctx,
        ]
    )
    endpoints = add_endpoints(app, TABLES)
    app[OPENAPI] = build_openapi(endpoints, title="telecenter API", version=app_version())
    app.router.add_get(r"/api/v1/rooms/{id:\d+}/ws", room_ws)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics.handle)
    app.router.add_get("/api/openapi.json", openapi_json)
    add_pages(app)
    return app
