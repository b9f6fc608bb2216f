"""``telecenter purge [--dry-run]``: remove what is past retention (:mod:`consult.retention`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from consult.audit import CHECKPOINT_ACTION
from consult.center import Center
from consult.retention import apply_purge, plan_purge, remove_files
from web.cli import with_center
from web.cli_backup import LAYOUT
from web.settings import Settings


def add_retention_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    purge = sub.add_parser(
        "purge",
        parents=[common],
        help="remove records and files past retention (reports and images 15 years, "
        "audit 6 months by default); never anything of a patient with an open request",
    )
    purge.add_argument(
        "--dry-run", action="store_true", help="only say what would be removed (still audited)"
    )
    purge.set_defaults(handler=_purge_command)


def _purge_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(with_center(settings, lambda c: _purge(c, settings, dry_run=args.dry_run)))


async def _purge(center: Center, settings: Settings, *, dry_run: bool) -> int:
    async with center.work(client="cli") as work:
        plan = await plan_purge(work.session, settings.retention(), work.now, LAYOUT.refs)
        summary = plan.summary()
        if dry_run:
            work.audit("retention.preview", **summary)
        elif not plan.empty:
            await apply_purge(work.session, plan)
            work.audit(CHECKPOINT_ACTION, **summary)
    removed = 0 if dry_run else await asyncio.to_thread(remove_files, settings.data_dir, plan.files)
    verb = "would remove" if dry_run else "removed"
    sys.stdout.write(
        f"{verb}: {json.dumps(summary['rows'], sort_keys=True)}, {summary['files']} files"
        f"{'' if dry_run else f' ({removed} found)'}, {summary['audit_records']} audit records "
        f"(through seq {summary['audit_through_seq']})\n"
    )
    return 0
