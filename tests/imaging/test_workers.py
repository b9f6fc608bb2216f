"""The node's worker processes: connections go to the least busy worker, a dead worker is
replaced, and nothing acknowledged is lost (pynetdicom as the device, real processes)."""

from __future__ import annotations

import os
import signal

from pynetdicom.association import Association
from pynetdicom.sop_class import Verification

from tests.conftest import eventually
from tests.imaging.conftest import Node, in_thread, make_ct, scu, store_all
from tests.imaging.test_node import find


def associate(port: int) -> Association:
    assoc = scu(contexts=[Verification]).associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established
    return assoc


def ready_workers(node: Node, count: int = 2) -> bool:
    state = node.dicom.workers()
    return len(state) == count and all(w.ready for w in state)


async def test_connections_go_to_the_least_busy_worker(worker_node: Node) -> None:
    assert [w.active for w in worker_node.dicom.workers()] == [0, 0]
    first = await in_thread(associate, worker_node.port)
    second = await in_thread(associate, worker_node.port)
    assert sorted(w.active for w in worker_node.dicom.workers()) == [1, 1]
    third = await in_thread(associate, worker_node.port)
    assert sorted(w.active for w in worker_node.dicom.workers()) == [1, 2]
    for assoc in (first, second, third):
        assert int((await in_thread(assoc.send_c_echo)).Status) == 0
        await in_thread(assoc.release)
    await eventually(lambda: [w.active for w in worker_node.dicom.workers()] == [0, 0])


async def test_a_killed_worker_is_replaced_and_nothing_acknowledged_is_lost(
    worker_node: Node,
) -> None:
    study = "1.2.826.0.1.3680043.8.498.77"
    before = [make_ct(study_uid=study, instance=i) for i in range(3)]
    assert await in_thread(store_all, worker_node.port, before) == [0] * 3
    victim = worker_node.dicom.workers()[0]
    os.kill(victim.pid, signal.SIGKILL)
    await eventually(lambda: victim.pid not in {w.pid for w in worker_node.dicom.workers()})
    during = [make_ct(study_uid=study, instance=3 + i) for i in range(3)]
    assert await in_thread(store_all, worker_node.port, during) == [0] * 3  # the survivor
    await eventually(lambda: ready_workers(worker_node), within=20)
    assert victim.pid not in {w.pid for w in worker_node.dicom.workers()}
    after = [make_ct(study_uid=study, instance=6 + i) for i in range(4)]
    for one in after:  # one association each: both workers serve some
        assert await in_thread(store_all, worker_node.port, [one]) == [0]
    found = await in_thread(
        find,
        worker_node.port,
        "IMAGE",
        {"StudyInstanceUID": study, "SeriesInstanceUID": "", "SOPInstanceUID": ""},
    )
    stored = {str(ds.SOPInstanceUID) for ds in before + during + after}
    assert {str(ds.SOPInstanceUID) for ds in found} == stored
