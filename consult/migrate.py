"""Schema migrations (one Alembic history for the whole project), run on the async engine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


MIGRATION_LOCK = 0x7E1EC0DE
"""The PostgreSQL advisory lock key that serialises schema preparation across nodes."""


class SchemaOutOfDate(RuntimeError):
    """The database is behind the code's migrations."""


class SchemaNewer(RuntimeError):
    """The database was migrated by newer code than this node's."""


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _has_tables(conn: Connection) -> bool:
    return bool(inspect(conn).get_table_names())


def _run(conn: Connection, fn: Any, *args: Any) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    fn(cfg, *args)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    async with engine.begin() as conn:
        await conn.run_sync(_run, command.upgrade, revision)
    logger.info("database upgraded to %s", revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def known_revision(revision: str) -> bool:
    """Whether this code's migration history contains ``revision``."""
    return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None


@asynccontextmanager
async def migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the schema lock: on PostgreSQL an advisory lock, so that nodes starting together on
    one database migrate it once; SQLite serves one node and needs none."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})


async def prepare(engine: AsyncEngine) -> None:
    """At server start: migrate an empty database; refuse one that is behind or newer."""
    async with migration_lock(engine):
        await prepare_schema(engine)


async def prepare_schema(engine: AsyncEngine) -> None:
    """:func:`prepare` without the lock, for a caller that holds :func:`migration_lock`."""
    async with engine.connect() as conn:
        empty = not await conn.run_sync(_has_tables)
        current = await conn.run_sync(_current)
    if empty:
        await upgrade(engine)
        return
    head = head_revision()
    if current and current != head and not _safe_known(current):
        raise SchemaNewer(
            f"database schema is at {current}, newer than this code (which knows up to {head}): "
            "run this node with the code that migrated the database"
        )
    if current != head:
        raise SchemaOutOfDate(
            f"database schema is at {current or 'no revision'}, the code needs {head}: "
            "run `telecenter db upgrade` first"
        )


async def autogenerate(engine: AsyncEngine, message: str) -> None:
    """Write a new revision from the difference between the metadata and ``engine``'s schema."""
    async with engine.begin() as conn:
        await conn.run_sync(_run, command.revision, message, True)


def _safe_known(revision: str) -> bool:
    try:
        return known_revision(revision)
    except CommandError:  # alembic's answer for an id it has never seen
        return False
