"""Attacks on the DICOM node's network layer (issue 19, items 1 and 2), with raw sockets against
the real node on loopback, in both of its modes (worker processes, threads).

- Partial PDU headers (``01 00 00``) and silent connections must not hold association slots,
  and are closed when the ARTIM timer expires; a PDU started on an association must be whole
  within the network timeout.
- A PDU header announcing more than the node takes (``01 00 ff ff ff ff``) is answered with an
  A-ABORT at once, before anything is allocated for it.
- One address cannot take every connection; the association limit still holds.

Other loopback addresses (127.0.x.y) stand for other devices. Every test checks that the node
still serves a device meanwhile and that nothing stored changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, PYNETDICOM_IMPLEMENTATION_UID
from pynetdicom.association import Association
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    MaximumLengthNotification,
)
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import Verification
from sqlalchemy import select

from imaging.index import ImagingInstance
from tests.conftest import Database, eventually
from tests.imaging.conftest import DEVICE, Node, in_thread, make_ct, running_node, store_all

ANY_HOST_DEVICE = "LOOP-CT"
"""A device registered for every address (the other loopback addresses are other devices)."""
A_ASSOCIATE_AC, P_DATA_TF, A_RELEASE_RP, A_ABORT = 0x02, 0x04, 0x06, 0x07
MAX_PDU = 16384
LONG_S = 30.0
"""Timers that cannot expire during a test: what happens then is the node's check."""
SHORT_S = 0.5
GROWTH_LIMIT_KIB = 64 * 1024
"""Peak memory may grow this little during an attack (a 4 GiB buffer would be noticed)."""


@dataclass(frozen=True)
class Stored:
    """What the archive holds: index rows and file digests."""

    rows: list[tuple[str, int]]
    files: dict[str, str]


@contextlib.asynccontextmanager
async def _started(
    database: Database, tmp_path: Path, workers: int, **timers: float
) -> AsyncIterator[Node]:
    settings: dict[str, Any] = {
        "dicom_max_pdu": MAX_PDU,
        "dicom_max_associations": 4,
        "dicom_max_associations_per_peer": 3,
        "dicom_max_connections": 40,
        "dicom_artim_seconds": LONG_S,
        "dicom_network_timeout_seconds": LONG_S,
        **timers,
    }
    async with running_node(database, tmp_path, workers, **settings) as node:
        admin = await node.api.login("admin")
        device = {"ae_title": ANY_HOST_DEVICE, "host": "*", "port": 104}
        body = {**device, "institution": "th-dongcheng", "allow": []}
        (await admin.post("/api/v1/imaging/devices", body)).ok()
        yield node


@pytest.fixture(params=[2, 0], ids=["workers", "threads"])
async def node(
    request: pytest.FixtureRequest, seeded_database: Database, tmp_path: Path
) -> AsyncIterator[Node]:
    """The node with long timers: a small association limit, three connections a peer."""
    async with _started(seeded_database, tmp_path, request.param) as started:
        yield started


@pytest.fixture(params=[2, 0], ids=["workers", "threads"])
async def short_artim(
    request: pytest.FixtureRequest, seeded_database: Database, tmp_path: Path
) -> AsyncIterator[Node]:
    """The node with an ARTIM timer of 1.5 s (the rest as ``node``)."""
    async with _started(
        seeded_database, tmp_path, request.param, dicom_artim_seconds=1.5
    ) as started:
        yield started


@pytest.fixture
async def short_timers(seeded_database: Database, tmp_path: Path) -> AsyncIterator[Node]:
    """The threaded node with ARTIM and network timeout of half a second."""
    async with _started(
        seeded_database,
        tmp_path,
        0,
        dicom_artim_seconds=SHORT_S,
        dicom_network_timeout_seconds=SHORT_S,
    ) as started:
        yield started


# -- raw peers -----------------------------------------------------------------------------------


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


@contextlib.contextmanager
def connections(port: int, sources: list[str], first: bytes = b"") -> Iterator[list[socket.socket]]:
    """One connection from each source address, each sending ``first`` (then silent)."""
    opened = []
    try:
        for source in sources:
            sock = connect(port, source)
            opened.append(sock)
            if first:
                sock.sendall(first)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def is_open(sock: socket.socket) -> bool:
    """Whether the node keeps the connection open and has sent nothing on it."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b"x"  # anything sent: not a held connection
    except BlockingIOError:
        return True
    except OSError:  # reset
        return False
    finally:
        sock.setblocking(True)


def closed_by_node(sock: socket.socket) -> bool:
    """Whether the node closed the connection (after whatever it sent before)."""
    sock.setblocking(False)
    try:
        while data := sock.recv(65536):
            del data
        return True  # end of stream
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def until_closed(sock: socket.socket, within: float = 10.0) -> bytes:
    """Everything the node sends until it closes the connection."""
    sock.settimeout(within)
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while data := sock.recv(65536):
            received += data
    return received


def read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    header = _exactly(sock, 6)
    pdu_type, length = struct.unpack(">BxL", header)
    return pdu_type, _exactly(sock, length)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def association_rq(calling: str = ANY_HOST_DEVICE) -> bytes:
    """An A-ASSOCIATE-RQ for Verification, encoded by pynetdicom."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = calling
    primitive.called_ae_title = "TELECENTER"
    context = build_context(Verification)
    context.context_id = 1
    primitive.presentation_context_definition_list = [context]
    length = MaximumLengthNotification()
    length.maximum_length_received = MAX_PDU
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
    primitive.user_information = [length, implementation]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return bytes(pdu.encode())


def associated(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A raw connection on which the node accepted an association."""
    sock = connect(port, source)
    sock.sendall(association_rq())
    pdu_type, _ = read_pdu(sock)
    assert pdu_type == A_ASSOCIATE_AC
    return sock


def is_abort(data: bytes) -> bool:
    return len(data) >= 10 and data[0] == A_ABORT and data[2:6] == b"\x00\x00\x00\x04"


def echo(port: int, aet: str = DEVICE, source: str = "127.0.0.1") -> int | None:
    """A C-ECHO by pynetdicom as the device; None if the association was refused."""
    ae = AE(ae_title=aet)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="TELECENTER", bind_address=(source, 0))
    if not assoc.is_established:
        return None
    try:
        return int(assoc.send_c_echo().Status)
    finally:
        assoc.release()


async def served_again(port: int, source: str) -> None:
    """Wait until the address is served again (its closed connections are counted off as the
    node sees them close, an instant after the peer does)."""
    async with asyncio.timeout(10):
        while await in_thread(echo, port, ANY_HOST_DEVICE, source) != 0:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def associate(port: int, source: str) -> Association:
    ae = AE(ae_title=ANY_HOST_DEVICE)
    ae.add_requested_context(Verification)
    return ae.associate("127.0.0.1", port, ae_title="TELECENTER", bind_address=(source, 0))


# -- what the node holds -------------------------------------------------------------------------


async def store_one(node: Node) -> Stored:
    assert await in_thread(store_all, node.port, [make_ct()]) == [0]
    return await stored(node)


async def stored(node: Node) -> Stored:
    await node.flush()
    async with node.api.center.sessions() as session:
        result = await session.execute(
            select(ImagingInstance.sop_uid, ImagingInstance.size).order_by(ImagingInstance.sop_uid)
        )
        rows = [(str(uid), int(size)) for uid, size in result]
    root = node.tmp_path / "var" / "dicom"
    files = {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
    return Stored(rows, files)


def peak_memory_kib(node: Node) -> dict[int, int]:
    """Peak resident memory (VmHWM) of the server process and of each node worker."""
    pids = [os.getpid(), *(w.pid for w in node.dicom.workers())]
    peaks = {}
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks[pid] = int(line.split()[1])
    return peaks


def _sources(prefix: str, count: int) -> list[str]:
    return [f"{prefix}.{i}" for i in range(1, count + 1)]


# -- the attacks ---------------------------------------------------------------------------------


async def test_partial_headers_hold_no_slot_and_close_at_artim(short_artim: Node) -> None:
    """16 devices each send 3 bytes of a PDU header and stop (and one address tries 5 times):
    a device's C-ECHO is still served at once, and the stalled ones close when ARTIM expires."""
    node = short_artim
    before = await store_one(node)
    stalled_sources = _sources("127.0.1", 16) + ["127.0.2.1"] * 5
    with connections(node.port, stalled_sources, b"\x01\x00\x00") as stalled:
        assert await in_thread(echo, node.port) == 0
        assert await in_thread(echo, node.port, ANY_HOST_DEVICE, "127.0.3.1") == 0
        held = [sock for sock in stalled if await in_thread(is_open, sock)]
        # the 16 devices and 3 of the 5 from one address, still held after both echoes
        assert len(held) == 19
        await eventually(lambda: all(closed_by_node(sock) for sock in stalled), within=10)
    assert await in_thread(echo, node.port) == 0
    assert await stored(node) == before


async def test_silent_connections_close_at_artim_and_free_their_address(
    short_timers: Node,
) -> None:
    node = short_timers
    before = await store_one(node)
    with connections(node.port, ["127.0.4.1"] * 3) as silent:
        await eventually(lambda: all(closed_by_node(sock) for sock in silent), within=10)
    # the address's connections were given back: it may associate again, three at once
    await served_again(node.port, "127.0.4.1")
    with connections(node.port, ["127.0.4.1"] * 2) as again:
        assert await in_thread(echo, node.port, ANY_HOST_DEVICE, "127.0.4.1") == 0
        assert all([await in_thread(is_open, sock) for sock in again])
    assert await stored(node) == before


async def test_slow_but_whole_pdus_are_served(short_timers: Node) -> None:
    """A peer whose PDUs arrive in pieces (each pause longer than a read waits) is served."""
    node = short_timers

    def slowly() -> tuple[int, int]:
        rq = association_rq()
        with connect(node.port) as sock:
            for piece in (rq[:3], rq[3:8], rq[8:40], rq[40:]):
                sock.sendall(piece)
                time.sleep(0.1)
            accepted, _ = read_pdu(sock)
            release = b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00"
            sock.sendall(release[:4])
            time.sleep(0.1)
            sock.sendall(release[4:])
            released, _ = read_pdu(sock)
            return accepted, released

    assert await in_thread(slowly) == (A_ASSOCIATE_AC, A_RELEASE_RP)


async def test_partial_pdu_on_an_association_is_aborted_after_the_network_timeout(
    short_timers: Node,
) -> None:
    node = short_timers
    before = await store_one(node)

    def stall() -> bytes:
        with associated(node.port) as sock:
            sock.sendall(struct.pack(">BxL", P_DATA_TF, 100) + b"\x00" * 10)  # 10 of 100 bytes
            return until_closed(sock)

    assert is_abort(await in_thread(stall))
    assert await in_thread(echo, node.port) == 0
    assert await stored(node) == before


async def test_huge_pdu_length_is_aborted_at_once_without_allocating(node: Node) -> None:
    """``01 00 ff ff ff ff``: a 4 GiB A-ASSOCIATE-RQ announced in 6 bytes."""
    before = await store_one(node)
    peaks = peak_memory_kib(node)

    def attack() -> list[bytes]:
        answers = []
        for source in _sources("127.0.5", 8):
            with connect(node.port, source) as sock:
                sock.sendall(b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 1024)
                answers.append(until_closed(sock))
        return answers

    answers = await in_thread(attack)
    assert all(is_abort(answer) for answer in answers), answers  # not ARTIM: that sends nothing
    after = peak_memory_kib(node)
    assert all(after[pid] - peaks[pid] < GROWTH_LIMIT_KIB for pid in peaks if pid in after)
    assert await in_thread(echo, node.port) == 0
    assert await stored(node) == before


@pytest.mark.parametrize("length", [MAX_PDU + 1, 0xFFFFFFFF])
async def test_pdata_longer_than_announced_is_aborted_at_once(node: Node, length: int) -> None:
    before = await store_one(node)

    def attack() -> bytes:
        with associated(node.port) as sock:
            sock.sendall(struct.pack(">BxL", P_DATA_TF, length) + b"\x00" * 64)
            return until_closed(sock)

    assert is_abort(await in_thread(attack))
    assert await in_thread(echo, node.port) == 0
    assert await stored(node) == before


async def test_one_address_cannot_take_every_connection(node: Node) -> None:
    before = await store_one(node)
    holders = [await in_thread(associate, node.port, "127.0.6.1") for _ in range(3)]
    try:
        assert all(assoc.is_established for assoc in holders)
        fourth = await in_thread(associate, node.port, "127.0.6.1")
        assert not fourth.is_established  # closed before any association
        assert await in_thread(echo, node.port, ANY_HOST_DEVICE, "127.0.6.2") == 0
    finally:
        for assoc in holders:
            await in_thread(assoc.release)
    await served_again(node.port, "127.0.6.1")
    assert await stored(node) == before


async def test_association_limit_counts_associations_not_waiting_connections(
    node: Node,
) -> None:
    """With 16 connections waiting for their A-ASSOCIATE-RQ, the node still serves its 4
    associations; a 5th is rejected, transiently (local limit exceeded)."""
    before = await store_one(node)
    with connections(node.port, _sources("127.0.7", 16), b"\x01\x00") as waiting:
        sources = _sources("127.0.8", 4)
        held = [await in_thread(associate, node.port, source) for source in sources]
        try:
            assert all(assoc.is_established for assoc in held)
            fifth = await in_thread(associate, node.port, "127.0.8.5")
            assert fifth.is_rejected
            rejection = fifth.acceptor.primitive
            assert rejection is not None
            assert (rejection.result, rejection.result_source, rejection.diagnostic) == (2, 3, 2)
            assert all([await in_thread(is_open, sock) for sock in waiting])
        finally:
            for assoc in held:
                await in_thread(assoc.release)
    assert await in_thread(echo, node.port) == 0
    assert await stored(node) == before
