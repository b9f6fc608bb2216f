"""Lab fixtures: a center on a real database with the demo seeded (tables made directly, which
is much faster than the migration), and the MLLP listener started on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from consult import demo
from consult.center import Center
from consult.db import create_all, make_engine, make_session_factory
from consult.policy import PasswordHashing, Policy
from lab.inbound import ResultsInbox
from lab.mllp import MllpLimits, MllpServer
from tests.conftest import Database


@pytest.fixture
async def center(database: Database) -> AsyncIterator[Center]:
    engine = make_engine(database.url, schema=database.schema or None)
    await create_all(engine)
    center = Center(
        make_session_factory(engine),
        policy=Policy(password_hashing=PasswordHashing(1, 1024, 1)),
    )
    await demo.seed(center)
    try:
        yield center
    finally:
        await engine.dispose()


@pytest.fixture
async def listener(center: Center) -> AsyncIterator[MllpServer]:
    inbox = ResultsInbox(center)
    server = MllpServer(
        inbox.handle, reject=inbox.reject, limits=MllpLimits(max_message_bytes=64 * 1024)
    )
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()
