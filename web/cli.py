"""The ``telecenter`` command: serve, migrate, seed, manage users, verify the audit chain."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from consult import demo, migrate, people
from consult.anchors import AnchorDir, AnchorKeyError, check_chain_head, load_key
from consult.center import Center
from consult.db import make_engine, make_session_factory
from consult.errors import DomainError
from consult.models import Institution, User
from consult.vocab import Role
from web.settings import Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a sub-command's unset option must not hide the same option given before it
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="TOML settings file ([telecenter] table)",
    )
    common.add_argument(
        "--data-dir", type=Path, default=argparse.SUPPRESS, help="data directory (default ./var)"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="telecenter",
        description="County remote diagnostic center: consults, ECG, imaging and lab reads.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the server (HTTP, DICOM, HL7)")
    serve.add_argument("--host", help="HTTP address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8080)")
    serve.add_argument("--dicom-aet", help="the DICOM node's AE title (default TELECENTER)")
    serve.add_argument("--dicom-port", type=int, help="DICOM port (default 11112; 0 turns it off)")
    serve.add_argument(
        "--dicom-workers",
        type=int,
        help="DICOM worker processes (default: one per CPU, up to 4; 0: threads of the server)",
    )
    serve.add_argument("--mllp-port", type=int, help="HL7 MLLP port (default 2575; 0 turns it off)")
    serve.add_argument(
        "--demo", action="store_true", default=None, help="seed demo data into an empty database"
    )

    db = sub.add_parser("db", parents=[common], help="database schema")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    dbsub.add_parser("upgrade", parents=[common], help="apply migrations up to the latest")
    rev = dbsub.add_parser("revision", parents=[common], help="(developers) write a new migration")
    rev.add_argument("-m", "--message", required=True)

    sub.add_parser("demo", parents=[common], help="seed the demo community into an empty database")

    user = sub.add_parser("user", parents=[common], help="manage users")
    usub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = usub.add_parser(
        "add", parents=[common], help="add a user (password read from the terminal or stdin)"
    )
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--institution", required=True, help="institution code")
    add.add_argument("--department", help="department code (county users)")
    add.add_argument("--display-name", default="")
    pw = usub.add_parser("passwd", parents=[common], help="set a user's password")
    pw.add_argument("username")

    aud = sub.add_parser("audit", parents=[common], help="the audit log")
    asub = aud.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    asub.add_parser(
        "verify",
        parents=[common],
        help="verify the hash chain and its newest anchor; exit 1 if broken or cut",
    )

    for extension in _extensions():
        extension(sub, common)  # sub-commands with set_defaults(handler=fn(args, settings)) or func
    return parser


def _extensions() -> list[Callable[[Any, argparse.ArgumentParser], None]]:
    """Sub-commands contributed by the centers' CLI modules in web/."""
    found = []
    for module_name, func in (
        ("web.cli_ecg", "add_ecg_commands"),
        ("web.cli_imaging", "add_imaging_commands"),
        ("web.cli_backup", "add_backup_commands"),
        ("web.cli_retention", "add_retention_commands"),
    ):
        try:
            module = __import__(module_name, fromlist=[func])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        found.append(getattr(module, func))
    return found


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "dicom_aet": getattr(args, "dicom_aet", None),
        "dicom_port": getattr(args, "dicom_port", None),
        "dicom_workers": getattr(args, "dicom_workers", None),
        "mllp_port": getattr(args, "mllp_port", None),
        "demo": getattr(args, "demo", None),
    }
    return load_settings(getattr(args, "config", None), overrides=overrides)


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("again: ") != first:
            raise SystemExit("passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


async def with_center(settings: Settings, job: Callable[[Center], Awaitable[int]]) -> int:
    """Run ``job`` with a center on the configured database (migrated if empty)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url, schema=settings.database_schema or None)
    try:
        await migrate.prepare(engine)
        center = Center(make_session_factory(engine), policy=settings.policy())
        try:
            return await job(center)
        finally:
            await center.audit_log.drain()
    finally:
        await engine.dispose()


async def _db_upgrade(settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url, schema=settings.database_schema or None)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    return 0


async def _db_revision(settings: Settings, message: str) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url, schema=settings.database_schema or None)
    try:
        await migrate.autogenerate(engine, message)
    finally:
        await engine.dispose()
    return 0


async def _demo(center: Center) -> int:
    seeded = await demo.seed(center)
    logger.info("demo data %s", "seeded" if seeded else "not seeded: the database is not empty")
    return 0


async def _user_add(center: Center, args: argparse.Namespace, password: str) -> int:
    async with center.work(client="cli") as work:
        inst = await work.session.scalar(
            select(Institution).where(Institution.code == args.institution)
        )
        if inst is None:
            raise DomainError(f"no institution with code {args.institution!r}")
        await people.create_user(
            work,
            username=args.username,
            password=password,
            display_name=args.display_name,
            role=Role(args.role),
            institution_id=inst.id,
            department_code=args.department,
        )
    return 0


async def _user_passwd(center: Center, username: str, password: str) -> int:
    async with center.work(client="cli") as work:
        user_id = await work.session.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            raise DomainError(f"no user {username!r}")
        await people.set_password(work, user_id, password)
    return 0


async def _audit_verify(center: Center, settings: Settings) -> int:
    """Verify the chain, then check it against the newest anchor; 1 if either fails."""
    public_key = await asyncio.to_thread(_anchor_public_key, settings.anchor_key_path)
    directory = AnchorDir(settings.anchor_dir_path)
    against = await check_chain_head(center.audit_log, directory, public_key)  # anchors first
    report = await center.audit_log.verify()
    if report.ok:
        sys.stdout.write(
            f"audit chain intact: {report.checked} records, {report.unsealed} unsealed\n"
        )
    else:
        sys.stdout.write(f"AUDIT CHAIN BROKEN at seq {report.first_bad_seq}: {report.problem}\n")
    for problem in against.problems:
        sys.stdout.write(f"AUDIT ANCHOR FAILED: {problem}\n")
    if against.warning:
        sys.stdout.write(f"WARNING: {against.warning} ({directory.root})\n")
    elif against.ok and against.anchor is not None:
        anchor = against.anchor
        sys.stdout.write(
            f"anchor matches: seq {anchor.seq} as exported at {anchor.at.isoformat()} "
            f"by {anchor.node}\n"
        )
    return 0 if report.ok and against.ok else 1


def _anchor_public_key(path: Path) -> Ed25519PublicKey | None:
    """The anchor key's public half; ``None`` if there is no key file (never created here)."""
    if not path.exists():
        return None
    try:
        return load_key(path).public_key()
    except AnchorKeyError as exc:
        raise SettingsError(f"audit_anchor_key: {exc}") from None


def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; then :func:`web.shutdown.stop_serving` says goodbye on every
    socket and stops the listeners, and aiohttp runs every cleanup context."""
    from web.access_log import access_log_options
    from web.app import create_app
    from web.tls import server_context

    tls = server_context(settings)  # before anything starts: a bad certificate stops here
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_heap)  # after every cleanup context has started
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        ssl_context=tls,
        shutdown_timeout=settings.http_stop_grace_seconds,
        **access_log_options(),
    )


async def _freeze_startup_heap(app: web.Application) -> None:
    """Exempt what start-up built (modules, tables, handlers) from garbage collection.

    A full collection walks every tracked object; with the whole server loaded that costs tens
    of milliseconds, paid by whichever thread allocates at that moment (a DICOM association, a
    request). Objects alive after start-up live until shutdown anyway.
    """
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        parser.exit(2, f"telecenter: {exc}\n")
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return _dispatch(args, settings)
    except SettingsError as exc:
        sys.stderr.write(f"telecenter: {exc}\n")
        return 2
    except DomainError as exc:
        sys.stderr.write(f"telecenter: {exc.message}\n")
        return 1
    except (migrate.SchemaOutOfDate, migrate.SchemaNewer) as exc:
        sys.stderr.write(f"telecenter: {exc}\n")
        return 1


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    if command == "serve":
        serve(settings)
        return 0
    if command == "db":
        if args.db_command == "upgrade":
            return asyncio.run(_db_upgrade(settings))
        return asyncio.run(_db_revision(settings, args.message))
    if command == "demo":
        return asyncio.run(with_center(settings, _demo))
    if command == "user":
        password = _read_password(f"password for {args.username}: ")
        if args.user_command == "add":
            return asyncio.run(with_center(settings, lambda c: _user_add(c, args, password)))
        return asyncio.run(
            with_center(settings, lambda c: _user_passwd(c, args.username, password))
        )
    if command == "audit":
        return asyncio.run(with_center(settings, lambda c: _audit_verify(c, settings)))
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args, settings))
    func = getattr(args, "func", None)
    if func is None:
        raise SystemExit(f"unknown command {command}")
    return int(func(args))


if __name__ == "__main__":
    sys.exit(main())
