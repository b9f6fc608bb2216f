"""The DICOM node's metrics, moved by a real device (pynetdicom) talking to the real node: on
threads of the server process and on node worker processes (counted in the worker, told to the
server)."""

from __future__ import annotations

import asyncio
import copy

from pynetdicom.sop_class import Verification

from tests.conftest import ApiUser
from tests.core.test_metrics import value
from tests.imaging.conftest import DEVICE, Node, in_thread, make_ct, scu, store_all

ASSOCIATIONS = "telecenter_dicom_associations_total"
STORED = "telecenter_dicom_instances_stored_total"
FAILED = "telecenter_dicom_store_failures_total"


async def counts(admin: ApiUser) -> bytes:
    r = await admin.get("/metrics")
    assert r.status == 200
    assert isinstance(r.body, bytes)
    return r.body


Expected = list[tuple[str, dict[str, str], float]]


async def counted(admin: ApiUser, expected: Expected) -> bytes:
    """The metrics once they show ``expected`` (name, labels, value); a worker's counts reach
    the server process just after the device has its answer."""
    async with asyncio.timeout(5):
        while True:
            body = await counts(admin)
            if all(value(body, name, **labels) == want for name, labels, want in expected):
                return body
            await asyncio.sleep(0.02)


def echo(port: int, aet: str) -> bool:
    assoc = scu(aet, [Verification]).associate("127.0.0.1", port, ae_title="TELECENTER")
    if not assoc.is_established:
        return False
    assert int(assoc.send_c_echo().Status) == 0
    assoc.release()
    return True


def abort_after_echo(port: int) -> None:
    assoc = scu(DEVICE, [Verification]).associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established
    assert int(assoc.send_c_echo().Status) == 0
    assoc.abort()


async def test_echo_store_reject_and_abort_are_counted(node: Node) -> None:
    admin = await node.api.login("admin")
    before = await counts(admin)
    assert value(before, ASSOCIATIONS, outcome="accepted") == 0
    assert await in_thread(echo, node.port, DEVICE)
    assert not await in_thread(echo, node.port, "STRANGER")
    await in_thread(abort_after_echo, node.port)
    first = make_ct()
    twin = copy.deepcopy(first)  # the same SOP Instance UID, other pixels
    twin.PixelData = bytes(len(first.PixelData))
    statuses = await in_thread(store_all, node.port, [first, make_ct(instance=2), twin])
    assert statuses == [0, 0, 0xC40A]
    await counted(
        admin,
        [
            (ASSOCIATIONS, {"outcome": "accepted"}, 3),
            (ASSOCIATIONS, {"outcome": "rejected"}, 1),
            (ASSOCIATIONS, {"outcome": "aborted"}, 1),
            (STORED, {}, 2),
            (FAILED, {"status": "0xC40A"}, 1),
        ],
    )


async def test_concurrent_associations_count_every_instance(node: Node) -> None:
    """Four devices' associations at once, on their own threads (or workers): none lost."""
    admin = await node.api.login("admin")
    batches = [[make_ct(instance=i) for i in range(5)] for _ in range(4)]
    results = await asyncio.gather(*(in_thread(store_all, node.port, b) for b in batches))
    assert results == [[0] * 5] * 4
    await counted(admin, [(ASSOCIATIONS, {"outcome": "accepted"}, 4), (STORED, {}, 20)])
