"""The application: the one place that knows every part and wires them together.

Resources live in ``cleanup_ctx`` generators (create, yield, dispose) and are reached through the
typed keys in :mod:`web.keys`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from aiohttp import web
from sqlalchemy import text

from consult import demo, migrate
from consult import requests as requests_
from consult.center import Center
from consult.db import make_engine, make_session_factory
from consult.filestore import sweep_orphans
from web import keys, lifeline
from web.anchor_wiring import anchor_ctx
from web.api import Endpoints, add_endpoints
from web.auth import auth_middleware
from web.background import every
from web.critical_wiring import critical_ctx  # -- critical alerts --
from web.dicomweb import endpoints as dicomweb_endpoints
from web.ecg_wiring import ecg_ctx
from web.errors import error_middleware
from web.fhir import endpoints as fhir_endpoints
from web.fhir_workflow import endpoints as fhir_workflow_endpoints
from web.imaging_wiring import imaging_ctx
from web.lab_wiring import lab_ctx
from web.login_throttle import LoginThrottle
from web.metrics import METRICS, Metrics
from web.openapi import build_openapi
from web.pages import add_pages
from web.printed import add_verify_page
from web.proxies import TRUSTED_PROXIES, add_hsts
from web.readiness import readyz
from web.redis_bus import RedisEventBus, make_bus
from web.regional import regional_ctx
from web.rooms_wiring import room_ws, rooms_ctx
from web.routes import admin, audit, auth, notifications, patients, referrals, reports, requests
from web.routes import charges as charges_routes  # -- charges --
from web.routes import critical as critical_routes  # -- critical alerts --
from web.routes import ecg as ecg_routes
from web.routes import ecg_reading as ecg_reading_routes  # -- long ECG reading --
from web.routes import his as his_routes
from web.routes import imaging as imaging_routes
from web.routes import lab as lab_routes
from web.routes import ownership as ownership_routes  # -- consult: one owner --
from web.routes import quality as quality_routes  # -- second reading --
from web.routes import rooms as rooms_routes
from web.routes import statistics as statistics_routes  # -- statistics --
from web.settings import Settings
from web.shutdown import stop_serving
from web.version import app_version
from web.waveforms import bridge_ctx

logger = logging.getLogger(__name__)

OPENAPI = web.AppKey("openapi", dict)
TABLES: list[Endpoints] = [
    auth.endpoints,
    admin.endpoints,
    patients.endpoints,
    requests.endpoints,
    ownership_routes.endpoints,  # -- consult: one owner --
    reports.endpoints,
    referrals.endpoints,
    notifications.endpoints,
    audit.endpoints,
    ecg_routes.endpoints,
    ecg_reading_routes.endpoints,  # -- long ECG reading --
    rooms_routes.endpoints,
    lab_routes.endpoints,
    his_routes.endpoints,
    imaging_routes.endpoints,
    dicomweb_endpoints,
    critical_routes.endpoints,  # -- critical alerts --
    fhir_endpoints,
    fhir_workflow_endpoints,
    statistics_routes.endpoints,  # -- statistics --
    charges_routes.endpoints,  # -- charges --
    quality_routes.endpoints,  # -- second reading --
]


async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
    """The event bus: in-process, or over Redis when the center runs on several nodes."""
    settings = app[keys.SETTINGS]
    outbox = app[METRICS].outbox
    bus = make_bus(settings.events_url, settings.events_channel, counts=outbox)
    app[keys.BUS] = bus
    if isinstance(bus, RedisEventBus):
        outbox.pending.labels("events").set_function(bus.pending)
        await bus.start()
    yield
    if isinstance(bus, RedisEventBus):
        await bus.stop()


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """The engine, the schema, the center; demo data when asked for."""
    settings = app[keys.SETTINGS]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(sweep_orphans, settings.data_dir)  # files a killed writer left half
    engine = make_engine(
        settings.db_url,
        schema=settings.database_schema or None,
        busy_timeout_s=settings.sqlite_busy_timeout_seconds,
        writer_wait_s=settings.sqlite_writer_wait_seconds,
    )
    center = Center(make_session_factory(engine), policy=settings.policy(), bus=app[keys.BUS])
    async with migrate.migration_lock(engine):  # nodes starting together migrate and seed once
        await migrate.prepare_schema(engine)
        if settings.demo:
            await demo.seed(center)
    app[keys.ENGINE] = engine
    app[keys.CENTER] = center
    app[METRICS].ws_subscribers.set_function(center.bus.subscriber_count)
    yield
    await center.audit_log.drain()
    center.passwords.close()
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
        pool = ProcessPoolExecutor(
            max_workers=settings.worker_processes,
            mp_context=context,
            initializer=lifeline.bind_to_server,  # no orphans after kill -9 of the server
            initargs=(os.getpid(),),
        )
        await asyncio.to_thread(start_workers, pool, settings.worker_processes)
    app[keys.EXECUTOR] = pool
    yield
    pool.shutdown(wait=False, cancel_futures=True)


def start_workers(pool: ProcessPoolExecutor, count: int) -> None:
    """Start the pool's workers now, off the loop: a process pool starts them on first use,
    in the submitting thread, and the first start waits for the fork server to import the
    numerical stack (0.7 s): the first ECG upload would stall the whole loop that long."""
    for started in [pool.submit(os.getpid) for _ in range(count)]:
        started.result()


async def overdue_ctx(app: web.Application) -> AsyncIterator[None]:
    """A background task that flags overdue requests (one node a round)."""
    center, interval = app[keys.CENTER], app[keys.SETTINGS].overdue_check_seconds

    async def flag() -> None:
        async with center.work(client="overdue") as work:
            await requests_.flag_overdue(work)

    task = every(interval, "overdue", flag, app[keys.ENGINE])
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
    events = request.app[keys.BUS].health()
    healthy = db == "ok" and events != "unreachable"
    body = {
        "status": "ok" if healthy else "degraded",
        "database": db,
        "events": events,
        "version": app_version(),
    }
    # A node without its event broker still serves HTTP: degraded, but not out of rotation.
    return web.json_response(body, status=200 if db == "ok" else 503)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def create_app(settings: Settings) -> web.Application:
    """Build the application for ``settings``."""
    metrics = Metrics()
    app = web.Application(
        middlewares=[metrics.middleware(), error_middleware, auth_middleware],
        client_max_size=settings.max_upload_mb * 1024 * 1024,
    )
    app[keys.SETTINGS] = settings
    app[TRUSTED_PROXIES] = settings.proxy_networks()
    app.on_response_prepare.append(add_hsts)
    app[keys.LOGIN_THROTTLE] = LoginThrottle(limit=settings.login_failures_per_minute)
    app[keys.VERIFY_THROTTLE] = LoginThrottle(limit=settings.verify_misses_per_minute)
    app[METRICS] = metrics
    app[keys.STOPPING] = asyncio.Event()
    app.on_shutdown.append(stop_serving)
    app.cleanup_ctx.extend(
        [
            bus_ctx,
            database_ctx,
            anchor_ctx,
            executor_ctx,
            overdue_ctx,
            critical_ctx,  # -- critical alerts --
            ecg_ctx,
            imaging_ctx,
            bridge_ctx,
            lab_ctx,
            regional_ctx,
            rooms_ctx,
        ]
    )
    endpoints = add_endpoints(app, TABLES)
    app[OPENAPI] = build_openapi(endpoints, title="telecenter API", version=app_version())
    app.router.add_get(r"/api/v1/rooms/{id:\d+}/ws", room_ws)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics.handle)
    app.router.add_get("/api/openapi.json", openapi_json)
    add_pages(app)
    add_verify_page(app)
    return app
