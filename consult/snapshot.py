"""Consistent database snapshots while the server writes, and putting them back.

SQLite: the online backup API (:meth:`sqlite3.Connection.backup`, all pages in one step, so one
read transaction: in WAL mode writers go on, and the copy is the database as of one commit).
PostgreSQL: ``pg_dump -Fc --snapshot`` on a snapshot exported by a REPEATABLE READ transaction the
caller holds open, so whatever the caller reads in that transaction (counts, the audit head, the
files the rows name) describes exactly the dump.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from consult.errors import DomainError

logger = logging.getLogger(__name__)

PG_DUMP = "pg_dump"
PG_RESTORE = "pg_restore"


class SnapshotFailed(DomainError):
    """A database tool failed; the message carries what it said."""

    code = "snapshot_failed"


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite+aiosqlite:///`` URL."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise SnapshotFailed(f"not a SQLite database file: {url}")
    return Path(database)


def sqlite_backup(source: Path, target: Path) -> None:
    """Copy the live database ``source`` into the new file ``target`` (one consistent state).

    The copy is put back into rollback-journal mode so that it is one self-contained file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # pages=-1: every page in one step, under one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()


def sqlite_restore(snapshot: Path, target: Path) -> None:
    """Put the snapshot file in place as the database ``target`` (no stale WAL left beside it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(snapshot, tmp)
    tmp.replace(target)


@dataclass(frozen=True)
class LibpqTarget:
    """How the PostgreSQL command-line tools reach the database of an SQLAlchemy URL."""

    args: tuple[str, ...]
    env: dict[str, str]

    @classmethod
    def of(cls, url: str) -> LibpqTarget:
        parsed: URL = make_url(url)
        args: list[str] = []
        if parsed.host:
            args += ["--host", parsed.host]
        if parsed.port:
            args += ["--port", str(parsed.port)]
        if parsed.username:
            args += ["--username", parsed.username]
        args += ["--dbname", parsed.database or "postgres", "--no-password"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if parsed.password is not None:
            env["PGPASSWORD"] = str(parsed.password)  # never on a command line others can read
        return cls(tuple(args), env)


async def _run(tool: str, args: list[str], env: dict[str, str]) -> None:
    path = shutil.which(tool) or f"/usr/bin/{tool}"
    proc = await asyncio.create_subprocess_exec(
        path,
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise SnapshotFailed(
            f"{tool} failed ({proc.returncode}): {err.decode(errors='replace').strip()[-2000:]}"
        )


async def pg_dump(url: str, snapshot_id: str, target: Path, *, schema: str = "") -> None:
    """Dump the database as of the exported snapshot ``snapshot_id`` (custom format).

    The transaction that exported the snapshot must stay open until this returns.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    libpq = LibpqTarget.of(url)
    args = ["--format=custom", f"--snapshot={snapshot_id}", "--file", str(target)]
    if schema:
        args += ["--schema", schema]
    await _run(PG_DUMP, [*args, *libpq.args], libpq.env)


async def pg_restore(dump: Path, url: str, *, clean: bool) -> None:
    """Restore a custom-format dump into the database of ``url`` (objects keep their schema)."""
    libpq = LibpqTarget.of(url)
    args = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if clean:
        args += ["--clean", "--if-exists"]
    await _run(PG_RESTORE, [*args, *libpq.args, str(dump)], libpq.env)
