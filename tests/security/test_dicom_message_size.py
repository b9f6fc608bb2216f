"""Issue 19: a DIMSE message larger than ``dicom_max_data_set_mb`` is aborted as it passes the
limit, against the real node on loopback in both of its modes (worker processes, threads).

pynetdicom buffers a message's P-DATA in memory until its last fragment: without the limit, a
peer streaming one data set without end fills the node's memory. Every test checks that other
devices are served meanwhile and that nothing of the refused message is stored.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.uid import CTImageStorage

from tests.conftest import Database
from tests.imaging.conftest import DEVICE, Node, in_thread, make_ct, scu, store_all
from tests.security.test_dicom_network import (
    GROWTH_LIMIT_KIB,
    MAX_PDU,
    P_DATA_TF,
    _started,
    associated,
    echo,
    is_abort,
    peak_memory_kib,
    stored,
    until_closed,
)

logger = logging.getLogger(__name__)

LIMIT_MB = 1
LIMIT = LIMIT_MB * 1024 * 1024
STREAMED = 128 * 1024 * 1024
"""What the endless peer sends at most: twice what the memory check lets the node grow."""
SLACK = 16 * 1024 * 1024
"""Beyond the limit, what may be in the sockets' buffers before the peer sees the A-ABORT."""


@pytest.fixture(params=[2, 0], ids=["workers", "threads"])
async def node(
    request: pytest.FixtureRequest, seeded_database: Database, tmp_path: Path
) -> AsyncIterator[Node]:
    """The node taking data sets of at most 1 MiB."""
    async with _started(
        seeded_database, tmp_path, request.param, dicom_max_data_set_mb=LIMIT_MB
    ) as started:
        yield started


def store_one_status(port: int, ds: Dataset) -> int | None:
    """C-STORE one data set: its status (None: no response, the association ended)."""
    assoc = scu(DEVICE, [CTImageStorage]).associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established
    try:
        response = assoc.send_c_store(ds)
        return int(response.Status) if "Status" in response else None
    finally:
        if assoc.is_established:
            assoc.release()


def stream_endless_message(port: int, control: int) -> tuple[int, bytes]:
    """Send fragments that never end (no last-fragment bit; ``control`` 0: of a data set, 1: of
    a command set) until the node answers; return the bytes sent and what the node sent back
    before it closed."""
    fragment = b"\x00" * (MAX_PDU - 6)
    pdv = struct.pack(">LBB", len(fragment) + 2, 1, control) + fragment  # on context 1
    pdu = struct.pack(">BxL", P_DATA_TF, len(pdv)) + pdv
    sent = 0
    with associated(port) as sock:
        sock.setblocking(False)
        while sent < STREAMED:
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break  # the node has answered
            except BlockingIOError:
                pass
            except OSError:
                break
            sock.setblocking(True)
            try:
                sock.sendall(pdu)
            except OSError:
                break
            sock.setblocking(False)
            sent += len(pdu)
        sock.setblocking(True)
        return sent, until_closed(sock)


async def test_c_store_beyond_the_limit_is_aborted_others_served(node: Node) -> None:
    before = await stored(node)
    small = make_ct(size=64)
    under = make_ct(size=700)  # 980,000 bytes of pixels: under 1 MiB with its header
    over = make_ct(size=1024)  # 2 MiB of pixels
    status, served = await asyncio.gather(
        in_thread(store_one_status, node.port, over),
        in_thread(store_all, node.port, [small, under]),
    )
    assert status is None  # aborted (the raw test sees the A-ABORT itself)
    assert served == [0, 0]
    assert await in_thread(echo, node.port) == 0
    after = await stored(node)
    assert {uid for uid, _ in after.rows} - {uid for uid, _ in before.rows} == {
        str(small.SOPInstanceUID),
        str(under.SOPInstanceUID),
    }  # nothing of the refused one, in the index or on disk
    assert len(after.files) == len(before.files) + 2


@pytest.mark.parametrize("control", [0x00, 0x01], ids=["data-set", "command-set"])
async def test_endless_message_is_aborted_without_buffering_it(node: Node, control: int) -> None:
    before = await stored(node)
    peaks = peak_memory_kib(node)
    streams = [in_thread(stream_endless_message, node.port, control) for _ in range(2)]
    results = await asyncio.gather(*streams, in_thread(echo, node.port))
    *attacks, echoed = results
    assert echoed == 0  # served while the two streams ran
    for sent, answer in attacks:
        assert is_abort(answer), f"no A-ABORT after {sent} bytes"
        assert sent < LIMIT + SLACK, f"the node took {sent} bytes of one data set"
    after = peak_memory_kib(node)
    growth = {pid: after[pid] - peaks[pid] for pid in peaks if pid in after}
    logger.info("aborted after %s bytes; peak memory grew %s KiB", [s for s, _ in attacks], growth)
    assert all(kib < GROWTH_LIMIT_KIB for kib in growth.values())
    assert await in_thread(echo, node.port) == 0
    assert await stored(node) == before
