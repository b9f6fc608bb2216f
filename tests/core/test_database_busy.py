"""A write that cannot get the embedded database's lock in time is a 503 to try again, never a
500, and keeps nothing; once the lock is free the same request succeeds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from consult.models import Patient
from tests.conftest import Api, Database, make_settings
from tests.web.conftest import sqlite_only
from web.settings import Settings

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

database = pytest.fixture(sqlite_only, name="database")  # the SQLite write lock


@pytest.fixture
def settings(tmp_path: Path, seeded_database: Database) -> Settings:
    return make_settings(tmp_path, seeded_database, sqlite_busy_timeout_seconds=0.3)


async def _patients(api: Api) -> int:
    async with api.center.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Patient)) or 0)


async def test_a_write_behind_another_process_lock_is_503_then_succeeds(
    api: Api, settings: Settings
) -> None:
    village = await api.login("dr-village")
    before = await _patients(api)
    path = settings.db_url.removeprefix("sqlite+aiosqlite:///")
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer: a CLI, a tool
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the write lock
        busy = await village.post("/api/v1/patients", {"name": "锁等待患者", "sex": "F"})
        assert busy.status == 503, busy.body
        assert busy.body["error"]["code"] == "busy"
        assert busy.body["error"]["message"].startswith("数据库繁忙")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await _patients(api) == before  # nothing kept
    done = await village.post("/api/v1/patients", {"name": "锁等待患者", "sex": "F"})
    assert 200 <= done.status < 300, done.body
    assert await _patients(api) == before + 1
