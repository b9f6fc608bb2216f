"""Fixtures for the multi-node tests: the machine's Redis and real ``telecenter serve`` nodes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import redis
from sqlalchemy.engine import make_url

from tests.conftest import DEMO_PASSWORD, PG_URL, ApiUser, _pg_admin

REDIS_URL = os.environ.get("TELECENTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


needs_redis = pytest.mark.skipif(not redis_reachable(), reason="no Redis at " + REDIS_URL)
needs_pg = pytest.mark.skipif(not PG_URL, reason="TELECENTER_TEST_DATABASE_URL is not set")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def channel() -> str:
    """A Redis channel of this test's own, so parallel tests never hear each other."""
    return f"telecenter:test:{uuid.uuid4().hex}"


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    """An empty PostgreSQL database of this test's own (its URL)."""
    name = f"tc_nodes_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Node:
    """One ``telecenter serve`` process of a multi-node center."""

    name: str
    port: int
    proc: asyncio.subprocess.Process
    log: Path
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def health(self) -> dict[str, str]:
        async with (
            aiohttp.ClientSession() as s,
            s.get(self.url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r,
        ):
            return await r.json()  # type: ignore[no-any-return]

    async def wait_healthy(self, timeout: float = 180.0) -> dict[str, str]:
        async with asyncio.timeout(timeout):
            while True:
                if self.proc.returncode is not None:
                    raise AssertionError(f"node {self.name} exited: {self.log.read_text()[-3000:]}")
                try:
                    return await self.health()
                except (aiohttp.ClientError, TimeoutError):
                    await asyncio.sleep(0.2)

    async def login(self, username: str) -> ApiUser:
        session = aiohttp.ClientSession(base_url=self.url)
        self.sessions.append(session)
        async with session.post(
            "/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}
        ) as r:
            body = await r.json()
            assert r.status == 200, body
        return ApiUser(session, username, body["token"], body["user"])  # type: ignore[arg-type]

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        for session in self.sessions:
            await session.close()
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Cluster:
    """Starts nodes on one database and one Redis channel; stops them all at the end."""

    def __init__(self, tmp_path: Path, database_url: str, channel: str) -> None:
        self.tmp_path, self.database_url, self.channel = tmp_path, database_url, channel
        self.nodes: list[Node] = []

    async def start(
        self,
        name: str,
        *extra: str,
        events_url: str = REDIS_URL,
        data_dir: Path | None = None,
        **env_extra: str,
    ) -> Node:
        port = free_port()
        env = {
            **os.environ,
            "TELECENTER_DATABASE_URL": self.database_url,
            "TELECENTER_EVENTS_URL": events_url,
            "TELECENTER_EVENTS_CHANNEL": self.channel,
            "TELECENTER_ARGON2_TIME_COST": "1",
            "TELECENTER_ARGON2_MEMORY_KIB": "1024",
            "TELECENTER_ARGON2_PARALLELISM": "1",
            "TELECENTER_WORKER_KIND": "thread",
            "TELECENTER_WORKER_PROCESSES": "1",
            **{f"TELECENTER_{k.upper()}": v for k, v in env_extra.items()},
        }
        log = self.tmp_path / f"{name}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "web.cli",
                "serve",
                "--data-dir",
                str(data_dir or self.tmp_path / name),
                "--port",
                str(port),
                "--dicom-port",
                "0",
                "--mllp-port",
                "0",
                *extra,
                env=env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        node = Node(name, port, proc, log)
        self.nodes.append(node)
        return node

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()


@pytest.fixture
async def cluster(tmp_path: Path, pg_database: str, channel: str) -> AsyncIterator[Cluster]:
    nodes = Cluster(tmp_path, pg_database, channel)
    try:
        yield nodes
    finally:
        await nodes.stop()
