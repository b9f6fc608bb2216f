"""Restoring a backup (:mod:`consult.backup`) into a fresh center, and proving it whole.

The backup is checked against its manifest before anything is written; the target must be empty
(a data directory with nothing in it, a PostgreSQL schema without tables) unless ``force`` is
given. After the restore, :func:`verify_restore` reads the restored database and files the way
the backup read the originals and compares: rows per table, the audit chain head, and the size
and SHA-256 of every file.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from sqlalchemy import inspect

from consult import snapshot
from consult.backup import (
    MANIFEST,
    BackupError,
    Layout,
    Manifest,
    check_files,
    describe,
)
from consult.db import make_engine
from consult.errors import Conflict

logger = logging.getLogger(__name__)


def read_manifest(source: Path) -> Manifest:
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} is not a whole backup: it has no {MANIFEST}")
    return Manifest.from_json(path.read_text(encoding="utf-8"))


def check_backup(source: Path, manifest: Manifest) -> None:
    """Refuse a backup whose database snapshot or files are missing or changed."""
    if not (source / manifest.database_file).is_file():
        raise BackupError(f"{source} has no database snapshot {manifest.database_file}")
    problems = check_files(source / "files", manifest.files)
    if problems:
        raise BackupError(
            f"the backup is damaged ({len(problems)} file(s)): " + "; ".join(problems[:5])
        )


async def _pg_tables(url: str, schema: str) -> list[str]:
    engine = make_engine(url, schema=schema or None)
    try:
        async with engine.connect() as conn:
            names: list[str] = await conn.run_sync(lambda c: inspect(c).get_table_names())
            return names
    finally:
        await engine.dispose()


def _files_in_the_way(url: str, data_dir: Path) -> str:
    """What already holds data at the target, outside the database server ('' if nothing)."""
    if data_dir.exists() and any(data_dir.iterdir()):
        return f"{data_dir} is not empty: restore into a new directory, or give --force"
    if url.startswith("sqlite") and snapshot.sqlite_path(url).exists():
        return f"{snapshot.sqlite_path(url)} exists: give --force to replace it"
    return ""


async def _check_empty(url: str, schema: str, data_dir: Path) -> None:
    in_the_way = await asyncio.to_thread(_files_in_the_way, url, data_dir)
    if in_the_way:
        raise Conflict(in_the_way)
    if url.startswith("sqlite"):
        return
    tables = await _pg_tables(url, schema)
    if tables:
        raise Conflict(
            f"the target database has {len(tables)} tables already (e.g. {tables[0]}): "
            "restore into an empty database, or give --force"
        )


def _restore_files(source: Path, data_dir: Path, manifest: Manifest, *, force: bool) -> None:
    stores = {Path(relative).parts[0] for relative in manifest.files}
    if force:
        for store in stores:
            shutil.rmtree(data_dir / store, ignore_errors=True)
    for relative in manifest.files:
        target = data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "files" / relative, target)


async def restore_backup(
    source: Path, url: str, data_dir: Path, *, schema: str = "", force: bool = False
) -> Manifest:
    """Restore the backup at ``source`` into the database ``url`` and the files of ``data_dir``.

    Raises
    ------
    BackupError
        The backup is incomplete or damaged, or does not fit the target (another backend).
    Conflict
        The target is not empty and ``force`` is not given.
    """
    manifest = read_manifest(source)
    await asyncio.to_thread(check_backup, source, manifest)
    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    if backend != manifest.backend:
        raise BackupError(f"a {manifest.backend} backup cannot be restored into {backend}")
    if backend == "postgresql" and manifest.schema != schema:
        raise BackupError(
            f"the backup holds schema {manifest.schema or 'public'!r}; "
            f"restore it with database_schema = {manifest.schema!r}"
        )
    if not force:
        await _check_empty(url, schema, data_dir)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    if backend == "sqlite":
        target = snapshot.sqlite_path(url)
        await asyncio.to_thread(snapshot.sqlite_restore, source / manifest.database_file, target)
    else:
        await snapshot.pg_restore(source / manifest.database_file, url, clean=force)
    await asyncio.to_thread(_restore_files, source, data_dir, manifest, force=force)
    logger.info("restored %s into %s", source, data_dir)
    return manifest


async def verify_restore(
    manifest: Manifest, url: str, data_dir: Path, layout: Layout, *, schema: str = ""
) -> list[str]:
    """Differences between the restored center and the manifest (empty: restored whole)."""
    engine = make_engine(url, schema=schema or None)
    try:
        async with engine.connect() as conn, conn.begin():
            state = await describe(conn, layout)
    finally:
        await engine.dispose()
    problems = [
        f"table {name}: {state.tables.get(name)} rows, the backup has {count}"
        for name, count in sorted(manifest.tables.items())
        if state.tables.get(name) != count
    ]
    problems += [
        f"table {name}: not in the backup" for name in state.tables.keys() - manifest.tables.keys()
    ]
    if (state.audit_head_seq, state.audit_head_hash) != (
        manifest.audit_head_seq,
        manifest.audit_head_hash,
    ):
        problems.append(
            f"audit head seq {state.audit_head_seq} {state.audit_head_hash[:12]}, the backup has "
            f"seq {manifest.audit_head_seq} {manifest.audit_head_hash[:12]}"
        )
    unlisted = sorted(set(state.files) - manifest.files.keys())
    problems += [f"{relative}: named by the database, not in the backup" for relative in unlisted]
    problems += await asyncio.to_thread(check_files, data_dir, manifest.files)
    return problems
