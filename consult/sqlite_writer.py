"""One writer at a time on an embedded SQLite database, queued in the process, first come first
served.

SQLite lets one connection write at a time. Left to itself, each waiting writer polls the lock
(``busy_timeout``) with growing sleeps: under fifty clients a writer that keeps losing the race
waits out the whole timeout and fails ("database is locked") although the database was free many
times over. Here the writers of one process queue on an :class:`asyncio.Lock` instead, handed on
in arrival order the moment the one before commits or rolls back.

Where the lock is taken: at a transaction's first write statement. The sqlite3 driver begins its
transaction (``BEGIN``, deferred) just before the first INSERT/UPDATE/DELETE and runs the reads
before it in autocommit, so that statement is where SQLite takes its own write lock too. Reads
never queue, before or outside a write (WAL keeps them from blocking on the writer).

Where it is let go: after the connection's commit or rollback (also the rollback the pool runs
on a connection given back, as after a cancelled statement), or when the connection is closed or
invalidated. A waiter whose task is cancelled leaves the queue; one that waits longer than
``wait_s`` gets an ``OperationalError`` that :func:`consult.db.is_lock_timeout` reads as busy
(an HTTP 503 to try again), its transaction rolled back.

Other processes (a CLI, a tool) still meet SQLite's own lock and ``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_

logger = logging.getLogger(__name__)

WRITE_STATEMENT = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|VACUUM|REINDEX)\b", re.IGNORECASE
)


class WriterQueue:
    """The write lock of one SQLite engine, per event loop (an engine may outlive a loop)."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._held: dict[int, asyncio.Lock] = {}  # id(DBAPI connection) -> the lock it holds
        self._waiting = 0

    def install(self, engine: Engine) -> None:
        """Queue the writers of ``engine`` (the sync engine behind an async one)."""
        event.listen(engine, "before_cursor_execute", self._before_execute)
        dialect = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback
        close, terminate = dialect.do_close, dialect.do_terminate

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        def do_close(dbapi_connection: Any) -> None:
            try:
                close(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        def do_terminate(dbapi_connection: Any) -> None:
            try:
                terminate(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        # the dialect is this engine's own instance: wrapping its methods touches no other engine
        setattr(dialect, "do_commit", do_commit)  # noqa: B010
        setattr(dialect, "do_rollback", do_rollback)  # noqa: B010
        setattr(dialect, "do_close", do_close)  # noqa: B010
        setattr(dialect, "do_terminate", do_terminate)  # noqa: B010
        event.listen(engine, "invalidate", self._on_invalidate)

    def writing(self) -> int:
        """Connections holding the write lock (0 or 1 on one loop)."""
        return len(self._held)

    def waiting(self) -> int:
        """Writers queued behind the one writing."""
        return self._waiting

    def holds(self, dbapi_connection: Any) -> bool:
        return _key(dbapi_connection) in self._held

    def release(self, dbapi_connection: Any) -> None:
        lock = self._held.pop(_key(dbapi_connection), None)
        if lock is not None and lock.locked():
            lock.release()

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def _before_execute(
        self,
        conn: Connection,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        if self.holds(dbapi_connection) or not WRITE_STATEMENT.match(statement):
            return
        lock = self._lock()
        await_(self._acquire(lock, statement, parameters))
        self._held[_key(dbapi_connection)] = lock

    async def _acquire(self, lock: asyncio.Lock, statement: str, parameters: Any) -> None:
        self._waiting += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await lock.acquire()
        except TimeoutError:
            logger.warning("a write waited %.0f s in the SQLite writer queue", self.wait_s)
            raise OperationalError(
                statement,
                parameters,
                sqlite3.OperationalError("database is locked (waited in the writer queue)"),
            ) from None
        finally:
            self._waiting -= 1

    def _on_invalidate(
        self, dbapi_connection: Any, _record: ConnectionPoolEntry, _exc: BaseException | None
    ) -> None:
        self.release(dbapi_connection)


def _key(connection: Any) -> int:
    """The DBAPI connection's identity, given it or the pool's proxy of it (as the pool's own
    rollback on check-in passes)."""
    return id(getattr(connection, "dbapi_connection", connection))
