"""Shared fixtures: a real database (SQLite, and PostgreSQL when
``TELECENTER_TEST_DATABASE_URL`` is set), a real server on loopback, signed-in demo users."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from consult import demo, migrate
from consult.center import Center
from consult.db import make_engine, make_session_factory
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


BOTH_BACKENDS = "both_backends"
"""The marker of tests that run on PostgreSQL as well as SQLite: the safety rules (right patient,
one owner, critical result acknowledged, no double booking), concurrency, the database layer and
SQL that differs by backend. Every other test runs on the embedded database only: what it checks
lives in the doors, not the backend, and the whole suite stays within its ten minutes."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        BOTH_BACKENDS
    ):
        metafunc.parametrize("database", BACKENDS, indirect=True)


SLOW_FIRST = ("tests/web/", "tests/nodes/", "tests/security/test_crash.py", "tests/rooms/")
"""Modules of long tests (browsers, several servers, kill and restart), run first so that the
workers end together on short tests instead of one waiting for the other's long tail."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath

    def slow_first(item: pytest.Item) -> int:
        path = item.path.relative_to(root).as_posix()
        return 0 if path.startswith(SLOW_FIRST) else 1

    items.sort(key=slow_first)  # stable: each module keeps its order and stays together


@pytest.fixture
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database: SQLite, or for tests marked ``both_backends`` each backend in turn (on
    PostgreSQL a schema of its own, dropped after)."""
    if getattr(request, "param", "sqlite") == "sqlite":
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


async def _seed(db: Database, settings: Settings) -> None:
    engine = make_engine(db.url, schema=db.schema or None)
    try:
        await migrate.prepare(engine)
        await demo.seed(Center(make_session_factory(engine), policy=settings.policy()))
    finally:
        await engine.dispose()


async def _pg_admin(sql: str) -> None:
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()


class SeededTemplates:
    """Each backend migrated and seeded once per session, when a test first asks for it; tests
    get copies of these."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._made: dict[str, Database] = {}

    def get(self, backend: str) -> Database:
        if backend not in self._made:
            with ThreadPoolExecutor(1) as thread:  # the asking test's loop is running
                self._made[backend] = thread.submit(asyncio.run, self._make(backend)).result()
        return self._made[backend]

    async def _make(self, backend: str) -> Database:
        if backend == "sqlite":
            db = Database(f"sqlite+aiosqlite:///{self.path / 'template.db'}")
        else:
            name = f"tc_tmpl_{uuid.uuid4().hex[:10]}"
            await _pg_admin(f'CREATE DATABASE "{name}"')
            db = Database(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
        await _seed(db, make_settings(self.path, db))
        return db

    def drop(self) -> None:
        if "postgresql" in self._made:
            name = make_url(self._made["postgresql"].url).database
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def seeded_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededTemplates]:
    templates = SeededTemplates(tmp_path_factory.mktemp("template"))
    yield templates
    templates.drop()


@pytest.fixture
async def seeded_database(
    database: Database, seeded_templates: SeededTemplates, tmp_path: Path
) -> AsyncIterator[Database]:
    """A database of the same backend as ``database``, with the demo community already in it."""
    if database.url.startswith("sqlite"):
        source = Path(make_url(seeded_templates.get("sqlite").url).database or "")
        target = tmp_path / "seeded.db"
        shutil.copyfile(source, target)
        yield Database(f"sqlite+aiosqlite:///{target}")
        return
    template = make_url(seeded_templates.get("postgresql").url).database
    name = f"tc_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield Database(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
        "worker_processes": 2,
        "worker_kind": "thread",
        "overdue_check_seconds": 3600,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, seeded_database: Database) -> Settings:
    """Settings of a server on a copy of the seeded demo database."""
    return make_settings(tmp_path, seeded_database)


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

    async def put(self, path: str, json: Any = None) -> Resp:
        return await self.call("PUT", path, json=json)


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
        async with self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        ) as r:
            body = await r.json()
            assert r.status == 200, body
        user = ApiUser(self.client, username, body["token"], body["user"])
        self._users[username] = user
        return user

    async def anonymous(self, method: str, path: str, **kw: Any) -> Resp:
        self.client.session.cookie_jar.clear()  # no session cookie of an earlier sign-in either
        async with self.client.request(method, path, **kw) as r:
            body = await r.json() if r.content_type == "application/json" else await r.read()
            return Resp(r.status, body)


@asynccontextmanager
async def serving_center(settings: Settings) -> AsyncIterator[Api]:
    """A real server on loopback for ``settings``, closed on exit."""
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        yield Api(client)
    finally:
        await client.close()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """A real server on loopback with the demo community seeded."""
    async with serving_center(settings) as center:
        yield center


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``check()`` holds (state changes the test cannot await directly)."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
