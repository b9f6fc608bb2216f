"""Backups of a running center, and restoring one into a fresh data directory.

A backup is a directory::

    manifest.json            what is in it: rows per table, the audit chain head, every file
    db/telecenter.db         SQLite: the online-backup copy          (or)
    db/telecenter.pgdump     PostgreSQL: ``pg_dump -Fc`` of one snapshot
    files/<store>/...        the files the snapshot's rows name, under their store paths

The database is snapshotted first; then the files its rows name are copied. Stores never change
a file once written (content-addressed names, or DICOM files linked into place and never
replaced), and a file is written before the row naming it commits, so every file the snapshot
names exists when it is copied. Files written after the snapshot are not copied: the backup is
the center as of one commit. The backup is built under a temporary name beside ``DEST`` and
renamed into place only when whole.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from consult import snapshot
from consult.db import make_engine
from consult.errors import Conflict, DomainError
from consult.filestore import HEX64

logger = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_SNAPSHOT = "db/telecenter.db"
PG_SNAPSHOT = "db/telecenter.pgdump"
CHUNK = 1024 * 1024


class BackupError(DomainError):
    """A backup could not be taken or restored whole; the message says what is wrong."""

    code = "backup_failed"


@dataclass(frozen=True)
class FileRef:
    """A column naming files of a store: a path under the store, or a content digest."""

    store: str
    table: str
    column: str
    layout: Literal["relative", "content"]

    def relative(self, value: str) -> str:
        """The file's path under the data directory; refuses values that are not file names."""
        if self.layout == "content":
            if not HEX64.match(value):
                raise BackupError(f"{self.table}.{self.column}: not a SHA-256 digest {value!r}")
            return f"{self.store}/{value[:2]}/{value[2:]}.bin"
        parts = Path(value).parts
        if not parts or Path(value).is_absolute() or ".." in parts:
            raise BackupError(f"{self.table}.{self.column}: not a relative path {value!r}")
        return f"{self.store}/{Path(value).as_posix()}"


@dataclass(frozen=True)
class Layout:
    """What a center keeps outside its database: the columns naming files, and directories
    kept whole (files set aside for a person to look at)."""

    refs: tuple[FileRef, ...]
    whole_dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass
class Manifest:
    """What a backup holds; compared against a restored center to prove it whole."""

    backend: str
    created_at: str
    tables: dict[str, int]
    audit_head_seq: int
    audit_head_hash: str
    audit_unsealed: int
    files: dict[str, FileEntry] = field(default_factory=dict)
    schema: str = ""
    format: int = FORMAT

    @property
    def database_file(self) -> str:
        return SQLITE_SNAPSHOT if self.backend == "sqlite" else PG_SNAPSHOT

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(raw)
            if data.get("format") != FORMAT:
                raise BackupError(f"backup format {data.get('format')!r} is not {FORMAT}")
            data["files"] = {_safe(k): FileEntry(**v) for k, v in data["files"].items()}
            return cls(**data)
        except (ValueError, TypeError, KeyError) as exc:
            raise BackupError(f"the manifest is unreadable: {exc}") from None


def _safe(relative: str) -> str:
    """A manifest's file name: a plain relative path that stays under its directory."""
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\x00" in relative:
        raise BackupError(f"the manifest names a file outside the backup: {relative[:200]!r}")
    return path.as_posix()


@dataclass(frozen=True)
class DatabaseState:
    """What a database holds, read in one transaction."""

    tables: dict[str, int]
    audit_head_seq: int
    audit_head_hash: str
    audit_unsealed: int
    files: tuple[str, ...]


async def describe(conn: AsyncConnection, layout: Layout) -> DatabaseState:
    """Rows per table, the audit chain head and the files the rows name (one transaction)."""
    names = sorted(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    prep = conn.dialect.identifier_preparer
    tables = {
        name: int(await conn.scalar(text(f"SELECT count(*) FROM {prep.quote(name)}")) or 0)  # noqa: S608
        for name in names
    }
    head = (
        await conn.execute(
            text(
                "SELECT seq, hash FROM audit_record WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
            )
        )
    ).first()
    unsealed = await conn.scalar(text("SELECT count(*) FROM audit_record WHERE seq IS NULL"))
    files: set[str] = set()
    for ref in layout.refs:
        if ref.table not in tables:
            continue
        column, table = prep.quote(ref.column), prep.quote(ref.table)
        rows = await conn.scalars(text(f"SELECT DISTINCT {column} FROM {table}"))  # noqa: S608
        files.update(ref.relative(value) for value in rows if value)
    return DatabaseState(
        tables=tables,
        audit_head_seq=int(head[0]) if head else 0,
        audit_head_hash=str(head[1]) if head else "",
        audit_unsealed=int(unsealed or 0),
        files=tuple(sorted(files)),
    )


def _copy_hashed(source: Path, target: Path) -> FileEntry:
    """Copy one file, hashing it on the way (its modification time kept)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    shutil.copystat(source, target)
    return FileEntry(digest.hexdigest(), size)


def hash_file(path: Path) -> FileEntry:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(digest.hexdigest(), size)


def _whole_dir_files(data_dir: Path, whole_dirs: Iterable[str]) -> list[str]:
    found = []
    for name in whole_dirs:
        root = data_dir / name
        if root.is_dir():
            found += [
                p.relative_to(data_dir).as_posix()
                for p in root.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            ]
    return found


def copy_files(data_dir: Path, target: Path, relatives: Iterable[str]) -> dict[str, FileEntry]:
    """Copy the files (paths under ``data_dir``) to ``target``; a missing one is an error, and
    so is a content-addressed file whose content does not match its name."""
    entries: dict[str, FileEntry] = {}
    missing = []
    for relative in relatives:
        source = data_dir / relative
        if not source.is_file():
            missing.append(relative)
            continue
        entry = _copy_hashed(source, target / relative)
        if relative.endswith(".bin") and _content_name(relative) not in ("", entry.sha256):
            raise BackupError(f"{relative} is damaged: its content hashes to {entry.sha256}")
        entries[relative] = entry
    if missing:
        raise BackupError(
            f"{len(missing)} file(s) named by the database are missing, e.g. {missing[:5]}"
        )
    return entries


def _content_name(relative: str) -> str:
    parts = Path(relative).parts
    if len(parts) < 3:
        return ""
    name = parts[-2] + parts[-1].removesuffix(".bin")
    return name if HEX64.match(name) else ""


def check_files(root: Path, files: dict[str, FileEntry]) -> list[str]:
    """Problems found comparing the files under ``root`` with their manifest entries."""
    problems = []
    for relative, expected in sorted(files.items()):
        path = root / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
            continue
        found = hash_file(path)
        if found != expected:
            problems.append(
                f"{relative}: sha256 {found.sha256} size {found.size}, expected "
                f"{expected.sha256} size {expected.size}"
            )
    return problems


def new_target(dest: Path) -> Path:
    """The temporary directory a backup is built in, beside ``dest`` (which must not exist or
    be empty)."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(f"{dest} exists and is not empty: a backup goes to a new directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.partial")
    work.mkdir()
    return work


def finish_target(work: Path, dest: Path, manifest: Manifest) -> None:
    """Write the manifest last and move the whole backup into place."""
    (work / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    if dest.exists():
        dest.rmdir()  # checked empty by new_target
    work.rename(dest)


async def take_backup(
    url: str, data_dir: Path, dest: Path, layout: Layout, *, schema: str = ""
) -> Manifest:
    """Back up the center at ``url`` with its files under ``data_dir`` into ``dest``."""
    work = new_target(dest)
    try:
        if url.startswith("sqlite"):
            manifest = await _backup_sqlite(url, data_dir, work, layout)
        else:
            manifest = await _backup_postgresql(url, schema, data_dir, work, layout)
        finish_target(work, dest, manifest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    logger.info(
        "backup %s: %d tables, %d rows, %d files, audit head seq %d",
        dest,
        len(manifest.tables),
        sum(manifest.tables.values()),
        len(manifest.files),
        manifest.audit_head_seq,
    )
    return manifest


def _manifest(backend: str, state: DatabaseState, files: dict[str, FileEntry]) -> Manifest:
    return Manifest(
        backend=backend,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        tables=state.tables,
        audit_head_seq=state.audit_head_seq,
        audit_head_hash=state.audit_head_hash,
        audit_unsealed=state.audit_unsealed,
        files=files,
    )


async def _backup_sqlite(url: str, data_dir: Path, work: Path, layout: Layout) -> Manifest:
    target = work / SQLITE_SNAPSHOT
    await asyncio.to_thread(snapshot.sqlite_backup, snapshot.sqlite_path(url), target)
    state = await _describe_sqlite_file(target, layout)
    relatives = [*state.files, *_whole_dir_files(data_dir, layout.whole_dirs)]
    files = await asyncio.to_thread(copy_files, data_dir, work / "files", relatives)
    return _manifest("sqlite", state, files)


async def _describe_sqlite_file(path: Path, layout: Layout) -> DatabaseState:
    engine = create_async_engine(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    try:
        async with engine.connect() as conn:
            return await describe(conn, layout)
    finally:
        await engine.dispose()


async def _backup_postgresql(
    url: str, schema: str, data_dir: Path, work: Path, layout: Layout
) -> Manifest:
    engine = make_engine(url, schema=schema or None)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                snapshot_id = str(await conn.scalar(text("SELECT pg_export_snapshot()")))
                state = await describe(conn, layout)
                await snapshot.pg_dump(url, snapshot_id, work / PG_SNAPSHOT, schema=schema)
    finally:
        await engine.dispose()
    relatives = [*state.files, *_whole_dir_files(data_dir, layout.whole_dirs)]
    files = await asyncio.to_thread(copy_files, data_dir, work / "files", relatives)
    manifest = _manifest("postgresql", state, files)
    manifest.schema = schema
    return manifest
