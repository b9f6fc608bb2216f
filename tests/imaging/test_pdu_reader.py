"""Reading untrusted PDUs a piece at a time, and admitting connections (pure parts of the node's
network layer; the attacks on the running node are in tests/security/test_dicom_network.py)."""

from __future__ import annotations

import struct
from collections.abc import Iterable

import pytest

from imaging.admission import AssociationSlots, ConnectionLimits, Ticket
from imaging.pdu_reader import FIRST_CHUNK, PduReader, PduRefused, PeerClosed

PAUSE = None
"""In a peer's script: nothing arrives for now (the read times out)."""


class Peer:
    """A scripted peer: byte strings arrive as written, PAUSE times a read out."""

    def __init__(self, script: Iterable[bytes | None]) -> None:
        self._script = list(script)
        self.offered: list[int] = []
        """The size of each buffer the reader offered."""

    def recv_into(self, view: memoryview) -> int:
        self.offered.append(len(view))
        if not self._script:
            return 0  # closed
        chunk = self._script[0]
        if chunk is None:
            self._script.pop(0)
            raise TimeoutError
        taken, rest = chunk[: len(view)], chunk[len(view) :]
        view[: len(taken)] = taken
        if rest:
            self._script[0] = rest
        else:
            self._script.pop(0)
        return len(taken)


def _limit(pdu_type: int) -> int:
    return 16 * 1024 * 1024


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BxL", pdu_type, len(body)) + body


def test_a_pdu_in_pieces_is_kept_across_pauses() -> None:
    pdu = _pdu(0x04, b"abcdefghij")
    peer = Peer([pdu[:1], PAUSE, pdu[1:4], PAUSE, pdu[4:9], PAUSE, pdu[9:]])
    reader = PduReader()
    assert reader.read(peer.recv_into, _limit) is None
    assert reader.in_progress
    assert reader.read(peer.recv_into, _limit) is None
    assert reader.read(peer.recv_into, _limit) is None
    whole = reader.read(peer.recv_into, _limit)
    assert whole is not None and (whole.pdu_type, bytes(whole.body)) == (0x04, b"abcdefghij")
    assert not reader.in_progress


def test_two_pdus_back_to_back() -> None:
    peer = Peer([_pdu(0x05, b"\0" * 4) + _pdu(0x04, b"xy")])
    reader = PduReader()
    first = reader.read(peer.recv_into, _limit)
    second = reader.read(peer.recv_into, _limit)
    assert first is not None and first.pdu_type == 0x05
    assert second is not None and bytes(second.body) == b"xy"


@pytest.mark.parametrize(
    "header",
    [
        b"\x01\x00\xff\xff\xff\xff",  # 4 GiB A-ASSOCIATE-RQ
        b"\x04\x00\x00\x10\x00\x01",  # P-DATA-TF one byte over the limit
        b"\x07\x00\x00\x00\x10\x00",  # A-ABORT is 4 bytes long
        b"\x09\x00\x00\x00\x00\x04",  # no such PDU type
    ],
)
def test_refused_from_the_header_before_any_body_is_read(header: bytes) -> None:
    peer = Peer([header + b"\0" * 64])
    with pytest.raises(PduRefused):
        PduReader().read(peer.recv_into, lambda pdu_type: 0x100000)
    assert sum(peer.offered) == 6  # the header only: no buffer for the body was offered


def test_the_body_buffer_grows_with_what_arrives() -> None:
    length = 8 * FIRST_CHUNK
    body = bytes(range(256)) * (length // 256)
    peer = Peer([_pdu(0x04, b"")[:2] + struct.pack(">L", length), body])
    whole = PduReader().read(peer.recv_into, _limit)
    assert whole is not None and bytes(whole.body) == body
    received = 0
    for offered in peer.offered[1:]:  # after the header: never ahead by more than has come
        assert offered <= max(FIRST_CHUNK, received)
        received += offered


def test_closed_in_the_middle_of_a_pdu() -> None:
    peer = Peer([_pdu(0x04, b"abcdef")[:8]])
    with pytest.raises(PeerClosed, match="middle"):
        PduReader().read(peer.recv_into, _limit)


def test_a_pdu_is_overdue_once_it_took_too_long_since_its_first_byte() -> None:
    now = [100.0]
    reader = PduReader(clock=lambda: now[0])
    assert not reader.overdue(1.0)  # between PDUs: nothing can be overdue
    reader.read(Peer([b"\x01\x00", PAUSE]).recv_into, _limit)
    now[0] = 100.9
    assert not reader.overdue(1.0)
    now[0] = 101.1
    assert reader.overdue(1.0)
    assert not reader.overdue(None)


def test_connections_per_peer_and_in_total() -> None:
    limits = ConnectionLimits(per_peer=2, total=3)
    assert limits.admit("10.0.0.1") and limits.admit("10.0.0.1")
    assert not limits.admit("10.0.0.1")  # its share
    assert limits.admit("10.0.0.2")
    assert not limits.admit("10.0.0.3")  # the node's
    limits.release("10.0.0.1")
    assert limits.admit("10.0.0.3")
    assert limits.open_connections() == 3 and limits.open_connections("10.0.0.1") == 1


def test_slots_and_tickets() -> None:
    slots = AssociationSlots(1)
    assert slots.take() and not slots.take()
    slots.give_back()
    assert slots.take()
    released: list[int] = []
    ticket = Ticket(lambda: released.append(1))
    ticket.release()
    ticket.release()
    assert released == [1]
