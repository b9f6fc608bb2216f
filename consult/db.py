"""The database layer: metadata, engine, sessions and the column types every table shares.

Each domain package declares its tables on :class:`Base` (one metadata, one Alembic history).
Timestamps are stored as UTC and always come back timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from consult.sqlite_writer import WriterQueue

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC that always reads back timezone-aware.

    Naive values are refused on the way in: a naive datetime in this code base is a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every table in the project."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


SQLITE_BUSY_TIMEOUT_S = 10.0
"""How long an SQLite statement waits for another process's write lock."""
SQLITE_WRITER_WAIT_S = 60.0
"""How long a write waits in this process's SQLite writer queue (:mod:`consult.sqlite_writer`)."""


def _sqlite_pragmas(busy_timeout_s: float) -> Callable[[Any, ConnectionPoolEntry], None]:
    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout_s * 1000)}")
        cursor.close()

    return on_connect


def is_lock_timeout(exc: BaseException) -> bool:
    """The database was too busy to take this statement in time (SQLite: another connection
    held the write lock past ``busy_timeout``; PostgreSQL: ``lock_timeout`` ran out). Transient:
    the caller may try again; nothing of the statement's transaction was kept."""
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return sqlstate == "55P03" or "database is locked" in str(orig)


def _sqlite_cancel_is_not_disconnect(context: ExceptionContext) -> None:
    """On SQLite a statement whose task was cancelled leaves the connection sound: keep it.

    SQLAlchemy takes an exception that is not an ``Exception`` (here ``CancelledError``: a request
    whose client went away, a timeout, shutdown) for a lost connection and closes it without a
    rollback. aiosqlite's worker thread still finishes the statement, and the cursor it leaves
    keeps the closed connection alive, with its open write transaction, until garbage collection:
    every other writer then waits out ``busy_timeout`` and fails with "database is locked". Kept,
    the connection is rolled back as after any error (the thread runs the rollback after the
    statement) and goes back to the pool. asyncpg connections are still discarded: PostgreSQL
    rolls back a dropped connection itself.
    """
    if isinstance(context.original_exception, asyncio.CancelledError):
        context.is_disconnect = False


def make_engine(
    url: str,
    *,
    schema: str | None = None,
    echo: bool = False,
    busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
    writer_wait_s: float = SQLITE_WRITER_WAIT_S,
) -> AsyncEngine:
    """Create the async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``).

    Parameters
    ----------
    url:
        Any SQLAlchemy async URL.
    schema:
        PostgreSQL only: the schema to put first on the search path (several instances or test
        runs can then share one database).
    busy_timeout_s:
        SQLite only: how long a statement waits for another process's write lock.
    writer_wait_s:
        SQLite only: how long a write waits for the writers queued before it in this process.
    """
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
    if url.startswith("postgresql"):
        if schema:
            kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        kwargs.update(pool_size=10, max_overflow=20)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, busy_timeout_s=busy_timeout_s, writer_wait_s=writer_wait_s)
    return engine


def configure_sqlite(
    engine: AsyncEngine, *, busy_timeout_s: float, writer_wait_s: float
) -> WriterQueue:
    """WAL, foreign keys and timeouts on each connection; cancelled statements keep their
    connection; this process's writers queue one at a time (returned)."""
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_s))
    event.listen(engine.sync_engine, "handle_error", _sqlite_cancel_is_not_disconnect)
    queue = WriterQueue(writer_wait_s)
    queue.install(engine.sync_engine)
    return queue


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session in one transaction: committed on success, rolled back on any error."""
    async with factory() as session, session.begin():
        yield session


async def create_all(engine: AsyncEngine) -> None:
    """Create every table (tests and an empty embedded database; production uses Alembic)."""
    import_all_tables()
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


def import_all_tables() -> None:
    """Import every module that declares tables, so that the metadata is complete."""
    import importlib

    for module in TABLE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a centre not yet built in this checkout
            if exc.name != module:
                raise


TABLE_MODULES = (
    "consult.models",
    "consult.rooms",
    "imaging.index",
    "ecg.store",
    "ecg.reconcile",  # -- match: held ECG uploads, co-view grants --
    "consult.coview",
    "lab.tables",
    "consult.critical_tables",  # -- critical alerts --
    "consult.charges_tables",  # -- charges --
    "consult.quality_tables",  # -- second reading --
)
