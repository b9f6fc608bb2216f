"""``telecenter backup DEST`` and ``telecenter restore SRC --data-dir NEW``.

This module knows where each center keeps its files (the :class:`~consult.backup.Layout`); the
work itself is in :mod:`consult.backup` and :mod:`consult.restore`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from consult.audit import AuditLog
from consult.backup import FileRef, Layout, take_backup
from consult.db import make_engine, make_session_factory
from consult.restore import restore_backup, verify_restore
from web.settings import Settings

logger = logging.getLogger(__name__)

LAYOUT = Layout(
    refs=(
        FileRef("dicom", "imaging_instance", "path", "relative"),
        FileRef("ecg", "ecg_recording", "sha256", "content"),
        FileRef("ecg", "ecg_reconciliation", "sha256", "content"),
        FileRef("recordings", "room_recording", "sha256", "content"),
    ),
    whole_dirs=("dicom/quarantine",),
)
"""The stores under the data directory. Not backed up: ``ecg-tracings`` (drawn again from the
originals on first view) and ``spool`` (recordings still being written)."""


def add_backup_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    backup = sub.add_parser(
        "backup",
        parents=[common],
        help="back up the database and the file stores (safe while the server runs)",
    )
    backup.add_argument("dest", type=Path, help="a new (or empty) directory for the backup")
    backup.set_defaults(handler=_backup)
    restore = sub.add_parser(
        "restore",
        parents=[common],
        help="restore a backup into an empty data directory (and database), then verify it",
    )
    restore.add_argument("source", type=Path, help="a backup directory written by 'backup'")
    restore.add_argument(
        "--force", action="store_true", help="replace what the target data directory holds"
    )
    restore.set_defaults(handler=_restore)


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    manifest = asyncio.run(
        take_backup(
            settings.db_url,
            settings.data_dir,
            args.dest,
            LAYOUT,
            schema=settings.database_schema,
        )
    )
    sys.stdout.write(
        f"backup written to {args.dest}: {len(manifest.tables)} tables, "
        f"{sum(manifest.tables.values())} rows, {len(manifest.files)} files, "
        f"audit chain head seq {manifest.audit_head_seq}\n"
    )
    return 0


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_restore_and_verify(args.source, settings, force=args.force))


async def _restore_and_verify(source: Path, settings: Settings, *, force: bool) -> int:
    schema = settings.database_schema
    manifest = await restore_backup(
        source, settings.db_url, settings.data_dir, schema=schema, force=force
    )
    problems = await verify_restore(
        manifest, settings.db_url, settings.data_dir, LAYOUT, schema=schema
    )
    for problem in problems:
        sys.stdout.write(f"MISMATCH {problem}\n")
    if problems:
        return 1
    report = await _verify_chain(settings)
    if not report[0]:
        sys.stdout.write(f"AUDIT CHAIN BROKEN in the restored database: {report[1]}\n")
        return 1
    sys.stdout.write(
        f"restored into {settings.data_dir}: {sum(manifest.tables.values())} rows in "
        f"{len(manifest.tables)} tables and {len(manifest.files)} files match the backup; "
        f"audit chain intact ({report[1]})\n"
    )
    return 0


async def _verify_chain(settings: Settings) -> tuple[bool, str]:
    engine = make_engine(settings.db_url, schema=settings.database_schema or None)
    try:
        report = await AuditLog(make_session_factory(engine)).verify()
    finally:
        await engine.dispose()
    if report.ok:
        return True, f"{report.checked} records, {report.unsealed} unsealed"
    return False, f"seq {report.first_bad_seq}: {report.problem}"
