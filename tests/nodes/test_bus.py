"""The Redis event bus against the machine's Redis: across buses once, in order, and a node that
loses its broker keeps delivering its own events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from consult.events import Event, decode_event, encode_event
from tests.conftest import Database, make_settings
from tests.nodes.conftest import REDIS_URL, free_port, needs_redis
from web.app import create_app
from web.redis_bus import RedisEventBus


def test_codec_round_trip_and_rejects_malformed() -> None:
    event = Event("report.signed", frozenset({3, 1}), {"report_id": 7, "text": "窦性心律"})
    assert decode_event(encode_event(event)) == event
    for raw in [
        "",
        "{",
        "[]",
        '{"kind": 1, "users": [], "payload": {}}',
        '{"kind": "x", "users": ["1"], "payload": {}}',
        '{"kind": "x", "users": [1], "payload": []}',
        '{"kind": "x"}',
    ]:
        with pytest.raises(ValueError, match="malformed event"):
            decode_event(raw)


async def _next(queue: asyncio.Queue[Event], timeout: float = 3.0) -> Event:
    return await asyncio.wait_for(queue.get(), timeout)


@needs_redis
async def test_event_crosses_buses_once_and_in_order(channel: str) -> None:
    a, b = RedisEventBus(REDIS_URL, channel=channel), RedisEventBus(REDIS_URL, channel=channel)
    await a.start()
    await b.start()
    try:
        assert a.health() == b.health() == "ok"
        on_a, on_b, other = a.subscribe(1), b.subscribe(1), b.subscribe(2)
        a.publish(Event("n", frozenset({1}), {"i": i}) for i in range(200))
        got_b = [(await _next(on_b)).payload["i"] for _ in range(200)]
        got_a = [(await _next(on_a)).payload["i"] for _ in range(200)]
        assert got_b == got_a == list(range(200))
        await asyncio.sleep(0.2)
        assert on_a.empty() and on_b.empty() and other.empty()  # once, and only to user 1
    finally:
        await a.stop()
        await b.stop()


@needs_redis
async def test_malformed_broker_message_is_ignored(channel: str) -> None:
    bus = RedisEventBus(REDIS_URL, channel=channel)
    await bus.start()
    client = aioredis.from_url(REDIS_URL)
    try:
        queue = bus.subscribe(5)
        await client.publish(channel, b"\xff not json")
        await client.publish(channel, encode_event(Event("ok", frozenset({5}))))
        assert (await _next(queue)).kind == "ok"
    finally:
        await client.aclose()
        await bus.stop()


async def test_unreachable_broker_delivers_locally() -> None:
    bus = RedisEventBus(f"redis://127.0.0.1:{free_port()}/0", retry_seconds=0.1)
    await bus.start(wait_seconds=0.3)
    try:
        assert bus.health() == "unreachable"
        queue = bus.subscribe(9)
        bus.publish([Event("local", frozenset({9}))])
        assert (await _next(queue)).kind == "local"
    finally:
        await bus.stop()


async def test_node_without_its_broker_serves_and_says_so(
    tmp_path: Path, seeded_database: Database
) -> None:
    settings = make_settings(
        tmp_path, seeded_database, events_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        async with client.get("/healthz") as r:
            body = await r.json()
            assert r.status == 200  # still in the load balancer's rotation
            assert (body["status"], body["database"], body["events"]) == (
                "degraded",
                "ok",
                "unreachable",
            )
        async with client.post(
            "/api/v1/auth/login", json={"username": "dr-village", "password": "demo-password"}
        ) as r:
            assert r.status == 200
    finally:
        await client.close()
