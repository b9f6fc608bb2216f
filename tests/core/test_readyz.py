"""``/readyz`` against the real server: ready while its parts work, 503 naming the part that
really stopped working (a listener shut, the broker's port closed, the database file gone)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.engine import make_url

from tests.conftest import Api, Database, make_settings
from tests.nodes.conftest import REDIS_URL, needs_redis
from web import keys
from web.app import create_app
from web.imaging_wiring import NODE
from web.lab_wiring import LAB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def server(tmp_path: Path, database: Database, **overrides: Any) -> AsyncIterator[Api]:
    client = TestClient(TestServer(create_app(make_settings(tmp_path, database, **overrides))))
    await client.start_server()
    try:
        yield Api(client)
    finally:
        await client.close()


def unplug(path: Path) -> Path:
    """Put a directory where the database file was (it cannot be opened); return the file."""
    kept = path.with_suffix(".kept")
    path.rename(kept)
    path.mkdir()
    return kept


def replug(path: Path, kept: Path) -> None:
    path.rmdir()
    kept.rename(path)


async def test_ready_with_its_database(api: Api) -> None:
    ready = await api.anonymous("GET", "/readyz")
    assert ready.status == 200
    assert ready.body == {"status": "ready", "checks": {"database": "ok"}}


async def test_listeners_are_checked_while_configured(
    tmp_path: Path, seeded_database: Database
) -> None:
    ports = {"dicom_port": free_port(), "dicom_workers": 0, "mllp_port": free_port()}
    async with server(tmp_path, seeded_database, **ports) as api:
        ready = await api.anonymous("GET", "/readyz")
        assert ready.status == 200, ready.body
        assert ready.body["checks"] == {"database": "ok", "dicom": "ok", "mllp": "ok"}
        app = api.client.server.app
        await app[NODE].stop()
        down = await api.anonymous("GET", "/readyz")
        assert down.status == 503
        assert down.body["failed"] == ["dicom"] and down.body["checks"]["mllp"] == "ok"
        listener = app[LAB].listener
        assert listener is not None
        await listener.stop()
        both = await api.anonymous("GET", "/readyz")
        assert both.status == 503 and both.body["failed"] == ["dicom", "mllp"]
        assert (await api.anonymous("GET", "/healthz")).status == 200  # alive all the same


async def test_a_closed_broker_port_is_not_ready(tmp_path: Path, seeded_database: Database) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    async with server(tmp_path, seeded_database, events_url=closed) as api:
        down = await api.anonymous("GET", "/readyz")
        assert down.status == 503
        assert down.body == {
            "status": "not_ready",
            "checks": {"database": "ok", "redis": "failed"},
            "failed": ["redis"],
        }
        assert "127.0.0.1" not in str(down.body)  # nothing about where things are


@needs_redis
async def test_a_reachable_broker_is_ready(tmp_path: Path, seeded_database: Database) -> None:
    async with server(tmp_path, seeded_database, events_url=REDIS_URL) as api:
        ready = await api.anonymous("GET", "/readyz")
        assert ready.status == 200
        assert ready.body["checks"] == {"database": "ok", "redis": "ok"}


async def test_a_database_gone_is_not_ready(tmp_path: Path, seeded_database: Database) -> None:
    if not seeded_database.url.startswith("sqlite"):
        return  # the file case; PostgreSQL's own outage is its server's
    path = Path(make_url(seeded_database.url).database or "")
    async with server(tmp_path, seeded_database) as api:
        assert (await api.anonymous("GET", "/readyz")).status == 200
        engine = api.client.server.app[keys.ENGINE]
        await engine.dispose()  # no pooled connection keeps the old file open
        kept = unplug(path)
        try:
            down = await api.anonymous("GET", "/readyz")
            assert down.status == 503
            assert down.body["failed"] == ["database"]
        finally:
            await engine.dispose()
            replug(path, kept)
        assert (await api.anonymous("GET", "/readyz")).status == 200
