"""Framing of the messages between the server process and its node worker processes.

A frame is a 4-byte big-endian length and a pickle. Both ends are this program: the socket is
one end of a ``socketpair`` the server made and handed to the worker it started, never a path
or port anyone else can reach (pickle must never read bytes from outside).

Messages (tuples):

- worker to server: ``("call", id, method, args)``, ``("note", what, args)``
- server to worker: ``("ok", id, value)``, ``("error", id, exception)``
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from typing import Any

LENGTH = struct.Struct("!I")
MAX_FRAME = 1 << 30


class ChannelClosed(ConnectionError):
    """The other process closed its end (exited or crashed)."""


def frame(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if len(payload) > MAX_FRAME:
        raise ValueError(f"message of {len(payload)} bytes is too large")
    return LENGTH.pack(len(payload)) + payload


def error_frame(call_id: int, exc: BaseException) -> bytes:
    """An ``error`` reply; an exception that does not pickle travels as a RuntimeError."""
    try:
        return frame(("error", call_id, exc))
    except Exception:  # unpicklable exception (or arguments): keep its text
        return frame(("error", call_id, RuntimeError(f"{type(exc).__name__}: {exc}")))


async def read_message(reader: asyncio.StreamReader) -> Any:
    """The next message, or raise :class:`ChannelClosed`."""
    try:
        length = _length(await reader.readexactly(LENGTH.size))
        return pickle.loads(await reader.readexactly(length))  # noqa: S301 (our socketpair)
    except asyncio.IncompleteReadError as exc:
        raise ChannelClosed("channel closed") from exc


def _length(header: bytes | bytearray) -> int:
    (length,) = LENGTH.unpack(header)
    if length > MAX_FRAME:
        raise ChannelClosed(f"frame of {length} bytes")
    return int(length)


def _read_exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise ChannelClosed("channel closed")
        got += n
    return buffer


def receive_message(sock: socket.socket) -> Any:
    """The next message from a blocking socket, or raise :class:`ChannelClosed`."""
    length = _length(_read_exactly(sock, LENGTH.size))
    return pickle.loads(_read_exactly(sock, length))  # noqa: S301 (our socketpair)
