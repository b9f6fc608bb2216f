"""Prometheus metrics: one registry per application, request counts and latencies by route."""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from web.errors import Handler


class Metrics:
    """The application's metrics (a registry of its own: no process-wide global state)."""

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
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.ws_subscribers = Gauge(
            "telecenter_event_subscribers",
            "Live event WebSocket subscribers",
            registry=self.registry,
        )

    def middleware(self) -> web.middlewares.Middleware:  # type: ignore[name-defined]
        @web.middleware
        async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
            route = request.match_info.route.resource
            name = route.canonical if route is not None else "unmatched"
            start = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                self.requests.labels(request.method, name, str(status)).inc()
                self.latency.labels(request.method, name).observe(time.perf_counter() - start)

        return measure

    async def handle(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
