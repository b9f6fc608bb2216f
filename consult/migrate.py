"""Schema migrations (one Alembic history for the whole project), run on the async engine."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(RuntimeError):
    """The database is behind the code's migrations."""


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


async def prepare(engine: AsyncEngine) -> None:
    """At server start: migrate an empty database; refuse one that is behind."""
    async with engine.connect() as conn:
        empty = not await conn.run_sync(_has_tables)
        current = await conn.run_sync(_current)
    if empty:
        await upgrade(engine)
        return
    head = head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"database schema is at {current or 'no revision'}, the code needs {head}: "
            "run `telecenter db upgrade` first"
        )


async def autogenerate(engine: AsyncEngine, message: str) -> None:
    """Write a new revision from the difference between the metadata and ``engine``'s schema."""
    async with engine.begin() as conn:
        await conn.run_sync(_run, command.revision, message, True)
