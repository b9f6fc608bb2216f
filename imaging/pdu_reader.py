"""Reading PDUs from a peer that is not trusted (PS3.8 9.3).

A PDU is read a piece at a time, as its bytes arrive: the reader keeps what it has between
calls, so the thread that reads never waits long for a peer that sends slowly, and the caller
can see how long the PDU in progress has taken (:meth:`PduReader.overdue`). Its length is
checked as soon as the 6-byte header is in, before anything is allocated for the body; the body
buffer then grows with what actually arrives, never ahead of it by more than what has come.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

PDU_HEADER = struct.Struct(">BxL")  # PDU type, reserved, length (PS3.8 9.3.1)
PDU_TYPES = frozenset(range(0x01, 0x08))
FIXED_LENGTHS = {0x05: 4, 0x06: 4, 0x07: 4}
"""A-RELEASE-RQ, A-RELEASE-RP and A-ABORT carry exactly 4 bytes (PS3.8 9.3.6-9.3.8)."""
ASSOCIATION_PDU_MAX = 256 * 1024
"""The largest A-ASSOCIATE PDU taken: 128 presentation contexts (every odd context ID) each
proposing all 45 transfer syntaxes pynetdicom knows encode to 148 KB."""
FIRST_CHUNK = 256 * 1024
"""A body buffer starts at most this large and doubles as the bytes arrive (the PDUs most
devices send fit in it whole: no copy while they arrive)."""

RecvInto = Callable[[memoryview], int]
"""Fill the view with what the peer sent; 0 once it closed; ``TimeoutError`` if nothing came."""


class PduRefused(ValueError):
    """A PDU header this node does not take: unknown type, or a length beyond the limit."""


class PeerClosed(ConnectionError):
    """The peer closed the connection (perhaps in the middle of a PDU)."""


@dataclass(frozen=True)
class Pdu:
    pdu_type: int
    header: bytes
    body: bytearray


class PduReader:
    """The PDU being read from one connection."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._header = bytearray(PDU_HEADER.size)
        self._body = bytearray()
        self._got = 0
        self._type = 0
        self._length = -1  # -1: the header is not complete yet
        self.started: float | None = None
        """When the first byte of the PDU in progress arrived (None: between PDUs)."""

    @property
    def in_progress(self) -> bool:
        return self.started is not None

    def overdue(self, timeout: float | None) -> bool:
        """Whether the PDU in progress has taken longer than ``timeout`` seconds so far."""
        if self.started is None or timeout is None:
            return False
        return self._clock() - self.started > timeout

    def reset(self) -> None:
        """Forget the PDU in progress."""
        self._body = bytearray()
        self._got = 0
        self._length = -1
        self.started = None

    def read(self, recv_into: RecvInto, limit: Callable[[int], int]) -> Pdu | None:
        """Read on until one PDU is complete (returned) or the peer pauses (None).

        ``limit(pdu_type)`` is the largest length taken for that type.

        Raises
        ------
        PduRefused
            The header announces an unknown type or a length beyond the limit.
        PeerClosed
            The peer closed the connection.
        OSError
            The connection failed.
        """
        while True:
            try:
                if self._length < 0:
                    if self._fill_header(recv_into):
                        self._check_header(limit)
                elif self._fill_body(recv_into):
                    return self._take()
                if self._length == 0:
                    return self._take()
            except TimeoutError:
                return None

    def _fill_header(self, recv_into: RecvInto) -> bool:
        got = self._receive(recv_into, memoryview(self._header)[self._got :])
        self._got += got
        if self._got < PDU_HEADER.size:
            return False
        self._type, self._length = PDU_HEADER.unpack(self._header)
        self._got = 0
        return True

    def _check_header(self, limit: Callable[[int], int]) -> None:
        pdu_type, length = self._type, self._length
        if pdu_type not in PDU_TYPES:
            raise PduRefused(f"unknown PDU type 0x{pdu_type:02X}")
        fixed = FIXED_LENGTHS.get(pdu_type)
        if fixed is not None and length != fixed:
            raise PduRefused(f"PDU type 0x{pdu_type:02X} of length {length} (not {fixed})")
        allowed = limit(pdu_type)
        if length > allowed:
            raise PduRefused(f"PDU type 0x{pdu_type:02X} of {length} bytes (at most {allowed})")
        self._body = bytearray(min(length, FIRST_CHUNK))

    def _fill_body(self, recv_into: RecvInto) -> bool:
        if self._got == len(self._body):  # full so far: grow with what has arrived
            self._body.extend(bytes(min(self._length, 2 * len(self._body)) - len(self._body)))
        self._got += self._receive(recv_into, memoryview(self._body)[self._got :])
        return self._got == self._length

    def _receive(self, recv_into: RecvInto, view: memoryview) -> int:
        with view:
            got = recv_into(view)
        if not got:
            raise PeerClosed(
                "connection closed in the middle of a PDU" if self.in_progress else "closed"
            )
        if self.started is None:
            self.started = self._clock()
        return got

    def _take(self) -> Pdu:
        pdu = Pdu(self._type, bytes(self._header), self._body)
        self.reset()
        return pdu
