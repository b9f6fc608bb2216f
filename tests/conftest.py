"""Shared fixtures: a real database (SQLite, and PostgreSQL when
``TELECENTER_TEST_DATABASE_URL`` is set), a real server on loopback, signed-in demo users."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from consult.center import Center
from web import keys
from web.app import create_app
from web.settings import Settings

PG_URL = os.environ.get("TELECENTER_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True)
class Database:
    url: str
    schema: str = ""


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database of each backend; on PostgreSQL a schema of its own, dropped after."""
    if request.param == "sqlite":
        yield Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database(PG_URL, schema)
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def make_settings(tmp_path: Path, database: Database, **overrides: Any) -> Settings:
    """Settings for a test server: loopback, listeners off, cheap password hashing, demo data."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "var",
        "database_url": database.url,
        "database_schema": database.schema,
        "port": 0,
        "dicom_port": 0,
        "mllp_port": 0,
        "demo": True,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
        "worker_processes": 1,
        "overdue_check_seconds": 3600,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    return make_settings(tmp_path, database)


@dataclass
class Resp:
    status: int
    body: Any

    def ok(self) -> Any:
        assert 200 <= self.status < 300, f"{self.status}: {self.body}"
        return self.body


class ApiUser:
    """A signed-in user talking to the real server over HTTP."""

    def __init__(self, client: TestClient, username: str, token: str, me: dict[str, Any]) -> None:
        self.client, self.username, self.token, self.me = client, username, token, me

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, json: Any = None, **kw: Any) -> Resp:
        async with self.client.request(method, path, json=json, headers=self.headers, **kw) as r:
            body = await r.json() if r.content_type == "application/json" else await r.read()
            return Resp(r.status, body)

    async def get(self, path: str, **kw: Any) -> Resp:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Resp:
        return await self.call("POST", path, json=json if json is not None else {}, **kw)

    async def patch(self, path: str, json: Any = None) -> Resp:
        return await self.call("PATCH", path, json=json)


class Api:
    """The test server and a way to sign in as any demo user."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._users: dict[str, ApiUser] = {}

    @property
    def center(self) -> Center:
        return self.client.server.app[keys.CENTER]

    async def login(self, username: str, password: str = DEMO_PASSWORD) -> ApiUser:
        if username in self._users:
            return self._users[username]
        async with self.client.post("/api/v1/auth/login", json={"username": username, "password": password}) as r:
            body = await r.json()
            assert r.status == 200, body
        user = ApiUser(self.client, username, body["token"], body["user"])
        self._users[username] = user
        return user

    async def anonymous(self, method: str, path: str, **kw: Any) -> Resp:
        async with self.client.request(method, path, **kw) as r:
            body = await r.json() if r.content_type == "application/json" else await r.read()
            return Resp(r.status, body)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """A real server on loopback with the demo community seeded."""
    server = TestServer(create_app(settings))
    client = TestClient(server)
    await client.start_server()
    try:
        yield Api(client)
    finally:
        await client.close()
