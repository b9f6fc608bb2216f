"""Prometheus metrics: one registry per application (no process-wide global state).

HTTP requests are counted by route and by the status actually answered (the middleware sits
outside the error translation, so a 4xx a domain error becomes is counted as that 4xx). The
protocol doors and background work count through the small sinks below, handed to each part
when it is built: the DICOM node (:class:`DicomMetrics`, called from pynetdicom's association
threads: prometheus_client's values take a lock of their own on every update), the MLLP listener
(:class:`MllpMetrics`), the outboxes (:class:`OutboxMetrics`) and the ECG analyses
(:class:`EcgMetrics`). Gauges of live state (rooms, participants, outbox depths) are read when
scraped.

``/metrics`` answers the bearer ``metrics_token`` of the settings (compared in constant time)
or a signed-in administrator; anyone else gets 401 (403 for a signed-in non-administrator).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from consult.vocab import Role
from web import keys
from web.errors import ApiError, Handler

logger = logging.getLogger(__name__)

REFRESH_TIMEOUT_S = 2.0
"""The longest a scrape waits for the gauges read from the database."""
CLIENT_CLOSED = 499
"""Recorded for a request whose handler was cancelled (the client went away, or shutdown)."""

Refresher = Callable[[], Awaitable[None]]


class DicomMetrics:
    """The DICOM node's counts (an :class:`imaging.counts.NodeCounts`); thread-safe."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._associations = Counter(
            "telecenter_dicom_associations_total",
            "DICOM associations by outcome (accepted, rejected, aborted)",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("accepted", "rejected", "aborted"):
            self._associations.labels(outcome)
        self._stored = Counter(
            "telecenter_dicom_instances_stored_total",
            "Instances stored and acknowledged over DICOM",
            registry=registry,
        )
        self._failed = Counter(
            "telecenter_dicom_store_failures_total",
            "C-STORE requests answered with a failure, by DICOM status",
            ["status"],
            registry=registry,
        )

    def association(self, outcome: str) -> None:
        self._associations.labels(outcome).inc()

    def stored(self) -> None:
        self._stored.inc()

    def store_failed(self, status: int) -> None:
        self._failed.labels(f"0x{status:04X}").inc()


class MllpMetrics:
    """The MLLP listener's counts (a :class:`lab.mllp.MllpCounts`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._messages = Counter(
            "telecenter_mllp_messages_total",
            "HL7 messages received over MLLP, by the ACK code answered (none: no answer)",
            ["ack"],
            registry=registry,
        )
        self._connections = Counter(
            "telecenter_mllp_connections_total",
            "MLLP connections by outcome (accepted, refused, dropped)",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("accepted", "refused", "dropped"):
            self._connections.labels(outcome)
        self.open = Gauge(
            "telecenter_mllp_connections_open", "MLLP connections open", registry=registry
        )

    def message(self, ack: str) -> None:
        self._messages.labels(ack or "none").inc()

    def connection(self, outcome: str) -> None:
        self._connections.labels(outcome).inc()


class OutboxMetrics:
    """The outboxes' failures (a :class:`lab.outbox.OutboxCounts`) and depths."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._failures = Counter(
            "telecenter_outbox_failures_total",
            "Deliveries from an outbox that failed (lis: to the LIS; his: to a clinic's HIS;"
            " events: to the broker)",
            ["outbox"],
            registry=registry,
        )
        self.pending = Gauge(
            "telecenter_outbox_pending",
            "Messages waiting in an outbox",
            ["outbox"],
            registry=registry,
        )

        self.stopped = Gauge(
            "telecenter_outbox_stopped",
            "Messages an outbox gave up on (rejected, or out of attempts): a person looks",
            ["outbox"],
            registry=registry,
        )

    def failed(self, outbox: str) -> None:
        self._failures.labels(outbox).inc()


class EcgMetrics:
    """The ECG analyses (an :class:`ecg.pipeline.AnalysisCounts`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._analyses = Counter(
            "telecenter_ecg_analyses_total",
            "ECG analyses by outcome (ok; rejected: the file was refused; failed: an error)",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "rejected", "failed"):
            self._analyses.labels(outcome)
        self._seconds = Histogram(
            "telecenter_ecg_analysis_seconds",
            "ECG read-and-analyse time, as the server waited for it",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=registry,
        )

    def analysed(self, outcome: str, seconds: float) -> None:
        self._analyses.labels(outcome).inc()
        self._seconds.observe(seconds)


class Metrics:
    """The application's metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "telecenter_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "telecenter_http_request_seconds",
            "HTTP request latency (WebSocket sessions excluded)",
            ["method", "route"],
            registry=self.registry,
        )
        self.ws_subscribers = Gauge(
            "telecenter_event_subscribers",
            "Live event WebSocket subscribers",
            registry=self.registry,
        )
        self.rooms = Gauge("telecenter_rooms_open", "Consult rooms open", registry=self.registry)
        self.participants = Gauge(
            "telecenter_room_participants",
            "Participants in the open rooms (lobby included)",
            registry=self.registry,
        )
        self.dicom = DicomMetrics(self.registry)
        self.mllp = MllpMetrics(self.registry)
        self.outbox = OutboxMetrics(self.registry)
        self.ecg = EcgMetrics(self.registry)
        self.refreshers: list[Refresher] = []
        """Read before each scrape (gauges that need the database), within a timeout."""

    def middleware(self) -> web.middlewares.Middleware:  # type: ignore[name-defined]
        @web.middleware
        async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
            start = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            except asyncio.CancelledError:
                status = CLIENT_CLOSED
                raise
            finally:
                self._record(request, status, time.perf_counter() - start)

        return measure

    def _record(self, request: web.Request, status: int, seconds: float) -> None:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        self.requests.labels(request.method, name, str(status)).inc()
        if status != 101:  # a WebSocket's time is its session's, not the server's latency
            self.latency.labels(request.method, name).observe(seconds)

    async def refresh(self) -> None:
        for refresher in self.refreshers:
            try:
                async with asyncio.timeout(REFRESH_TIMEOUT_S):
                    await refresher()
            except Exception:  # a scrape still answers: the gauge keeps its last value
                logger.exception("metrics: a gauge could not be read")

    async def handle(self, request: web.Request) -> web.Response:
        allow_reader(request)
        await self.refresh()
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


METRICS = web.AppKey("metrics", Metrics)


def allow_reader(request: web.Request) -> None:
    """Let through the metrics token or an administrator; refuse everyone else."""
    if request.get(keys.METRICS_READER):
        return
    principal = request.get(keys.PRINCIPAL)
    if principal is None:
        raise ApiError(
            401,
            "unauthenticated",
            "the metrics need the metrics token or an administrator's sign-in",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal.role is not Role.ADMIN:
        raise ApiError(403, "forbidden", "only an administrator may read the metrics")
