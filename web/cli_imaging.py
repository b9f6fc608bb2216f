"""``telecenter device add|list``: register the DICOM devices allowed to talk to the node."""

from __future__ import annotations

import argparse
import asyncio
import sys

from consult.center import Center
from imaging import devices
from imaging.devices import parse_operations
from imaging.node_values import Operation
from web.settings import Settings


def add_imaging_commands(
    subparsers: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
) -> None:
    device = subparsers.add_parser("device", parents=[common], help="DICOM devices")
    dsub = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    add = dsub.add_parser("add", parents=[common], help="register a device (AE title)")
    add.add_argument("ae_title", metavar="AET")
    add.add_argument("--host", required=True, help="the device's address")
    add.add_argument("--port", type=int, default=104, help="its port, for C-MOVE (default 104)")
    add.add_argument("--institution", required=True, help="code of the device's institution")
    add.add_argument(
        "--allow",
        default="store,find",
        help=f"operations, comma-separated among {','.join(o.value for o in Operation)}",
    )
    add.set_defaults(handler=device_add)
    listing = dsub.add_parser("list", parents=[common], help="list registered devices")
    listing.set_defaults(handler=device_list)


def device_add(args: argparse.Namespace, settings: Settings) -> int:
    operations = parse_operations(args.allow)

    async def job(center: Center) -> int:
        async with center.work(client="cli") as work:
            info = await devices.add(
                work,
                ae_title=args.ae_title,
                host=args.host,
                port=args.port,
                institution_code=args.institution,
                operations=operations,
            )
        sys.stdout.write(f"device {info.ae_title} registered (id {info.id})\n")
        return 0

    from web.cli import with_center

    return asyncio.run(with_center(settings, job))


def device_list(args: argparse.Namespace, settings: Settings) -> int:
    async def job(center: Center) -> int:
        async with center.work(client="cli") as work:
            rows = await devices.list_all(work)
        for d in rows:
            ops = ",".join(sorted(o.value for o in d.operations))
            sys.stdout.write(
                f"{d.ae_title:16} {d.host}:{d.port:<5} {d.institution_code:16} {ops}"
                f"{'' if d.active else ' (inactive)'}\n"
            )
        return 0

    from web.cli import with_center

    return asyncio.run(with_center(settings, job))
