"""Wiring of the lab center: the MLLP results listener, the LIS order outbox and the clinics'
HIS report outbox, as one ``cleanup_ctx`` generator (after the database's). Critical values
escalate with every critical alert (:mod:`web.critical_wiring`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from consult import charges
from consult.center import Center
from lab import catalogue, his, outbound, prices
from lab.inbound import ResultsInbox
from lab.mllp import MllpClient, MllpCounts, MllpLimits, MllpServer, tls_server_context
from lab.mllp_peers import PeerGate, parse_networks
from web import keys
from web.background import every
from web.metrics import METRICS, OutboxMetrics
from web.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class LabRuntime:
    """The lab's running parts."""

    listener: MllpServer | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


LAB = web.AppKey("lab", LabRuntime)


def lis_enabled(app: web.Application) -> bool:
    settings = app[keys.SETTINGS]
    return bool(settings.lis_host and settings.lis_port)


def results_listener(
    settings: Settings, inbox: ResultsInbox, counts: MllpCounts | None = None
) -> MllpServer:
    """The MLLP listener as the settings configure it: the LIS peers it serves, its limits, TLS."""
    tls = None
    if settings.mllp_tls_cert and settings.mllp_tls_key:
        tls = tls_server_context(
            settings.mllp_tls_cert, settings.mllp_tls_key, settings.mllp_tls_ca
        )
    return MllpServer(
        inbox.handle,
        reject=inbox.reject,
        limits=MllpLimits(
            max_message_bytes=settings.mllp_max_message_bytes,
            frame_timeout=settings.mllp_frame_timeout_seconds,
            idle_timeout=settings.mllp_idle_timeout_seconds,
        ),
        gate=PeerGate(
            parse_networks(settings.mllp_allowed_peers),
            max_connections=settings.mllp_max_connections,
            max_per_peer=settings.mllp_max_connections_per_peer,
        ),
        tls=tls,
        counts=counts,
    )


async def _prepare(center: Center) -> None:
    """A new installation starts with the seed catalogue (administrators edit it after)."""
    async with center.work(client="lab-setup") as work:
        await catalogue.seed(work)
        await charges.seed(work, prices.items())  # -- charges: the price catalogue --


async def _outbox_depth(center: Center, gauges: OutboxMetrics) -> None:
    gauges.pending.labels("lis").set(await outbound.pending_count(center))
    gauges.pending.labels(his.OUTBOX).set(await his.pending_count(center))
    gauges.stopped.labels(his.OUTBOX).set(await his.stopped_count(center))


def _his_outbox(app: web.Application, runtime: LabRuntime) -> his.HisClients:
    """Signed reports queue for the clinics' HIS; a task delivers them (when enabled)."""
    settings: Settings = app[keys.SETTINGS]
    center, metrics = app[keys.CENTER], app[METRICS]
    center.report_hooks.append(his.enqueue)
    clients = his.HisClients()
    backoff = his.Backoff(settings.his_backoff_seconds, settings.his_backoff_max_seconds)

    async def deliver() -> None:
        await his.deliver_pending(center, clients, backoff=backoff, counts=metrics.outbox)

    if settings.his_outbox:
        runtime.tasks.append(
            every(settings.his_poll_seconds, "his-outbox", deliver, app[keys.ENGINE])
        )
    return clients


async def lab_ctx(app: web.Application) -> AsyncIterator[None]:
    settings: Settings = app[keys.SETTINGS]
    center = app[keys.CENTER]
    await _prepare(center)
    runtime = LabRuntime()
    app[LAB] = runtime
    metrics = app[METRICS]
    if settings.mllp_port:
        listener = results_listener(settings, ResultsInbox(center), metrics.mllp)
        runtime.listener = listener
        metrics.mllp.open.set_function(listener.open_connections)
        await listener.start(settings.mllp_host, settings.mllp_port)
    metrics.refreshers.append(lambda: _outbox_depth(center, metrics.outbox))
    his_clients = _his_outbox(app, runtime)
    client: MllpClient | None = None
    if lis_enabled(app):
        client = MllpClient(settings.lis_host, settings.lis_port, retries=2)

        async def deliver() -> None:
            assert client is not None
            await outbound.deliver_pending(center, client, counts=metrics.outbox)

        retry = settings.lis_retry_seconds
        runtime.tasks.append(every(retry, "lis-outbox", deliver, app[keys.ENGINE]))
    yield
    for task in runtime.tasks:
        task.cancel()
    for task in runtime.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if client is not None:
        await client.close()
    await his_clients.close()
    if his.enqueue in center.report_hooks:
        center.report_hooks.remove(his.enqueue)
    if runtime.listener is not None:
        await runtime.listener.stop()
