"""Event-driven waits and bulk socket reads for pynetdicom's association threads.

pynetdicom (3.0.x) runs two polling threads per association: the DUL reactor sleeps
``_run_loop_delay`` (1 ms) whenever it finds nothing to do, and the association reactor sleeps
1 ms before every look at its message queue. Per C-STORE that is up to three such sleeps on the
critical path (notice the request's PDUs, hand the message to the handler, send the response),
each one longer on a loaded machine, and every wake-up competes for the GIL. Its socket reads
go 4,096 bytes at a time (~130 ``recv`` calls, each releasing and retaking the GIL, per 0.5 MB
instance).

:func:`install` changes only *when* those threads wake, never what they do:

* the ``time`` name in :mod:`pynetdicom.dul` and :mod:`pynetdicom.association` becomes a
  stand-in whose ``sleep`` — when called by a DUL reactor thread, or by an association reactor
  for its 1 ms poll — waits at most as long as asked, but returns as soon as there is work: data
  on the association's socket or a primitive queued for sending (DUL), a decoded DIMSE message
  (association). Every other caller gets :func:`time.sleep`;
* ``DULServiceProvider.send_pdu`` additionally wakes its DUL thread (through a socket pair,
  closed when ``run_reactor`` returns);
* ``AssociationSocket.recv`` reads with ``recv_into`` in large chunks into one buffer (same
  result: the requested bytes, or fewer if the peer closed).

Guarded: applied only to the pynetdicom versions checked against (3.0.x); any other version is
left alone (and logged), which only costs speed. Idempotent.
"""

from __future__ import annotations

import logging
import queue
import select
import socket
import threading
import time
import weakref
from types import SimpleNamespace
from typing import Any

import pynetdicom
from pynetdicom import association as _association
from pynetdicom import dul as _dul
from pynetdicom.transport import AssociationSocket

logger = logging.getLogger(__name__)

SUPPORTED = ("3.0.",)
REACTOR_POLL = 0.001
"""The association reactor's hard-coded poll interval (association.py, ``_run_reactor``)."""
CHUNK = 1 << 20

_installed = False
_lock = threading.Lock()


def install() -> bool:
    """Apply the changes once; False (and nothing changed) for an unknown pynetdicom."""
    global _installed
    with _lock:
        if _installed:
            return True
        version = str(pynetdicom.__version__)
        if not version.startswith(SUPPORTED):
            logger.warning("pynetdicom %s: receive-path tuning not applied", version)
            return False
        _dul.time = _clock(_dul_wait)  # type: ignore[attr-defined]
        _association.time = _clock(_assoc_wait)  # type: ignore[attr-defined]
        original_send_pdu = _dul.DULServiceProvider.send_pdu

        def send_pdu(self: _dul.DULServiceProvider, primitive: Any) -> None:
            original_send_pdu(self, primitive)
            _kick(self)

        original_run_reactor = _dul.DULServiceProvider.run_reactor

        def run_reactor(self: _dul.DULServiceProvider) -> None:
            try:
                original_run_reactor(self)
            finally:
                waker = self.__dict__.pop("_telecenter_waker", None)
                if waker is not None:
                    waker.close()

        send_pdu.__doc__ = original_send_pdu.__doc__
        run_reactor.__doc__ = original_run_reactor.__doc__
        _dul.DULServiceProvider.send_pdu = send_pdu  # type: ignore[method-assign]
        _dul.DULServiceProvider.run_reactor = run_reactor  # type: ignore[method-assign]
        AssociationSocket.recv = _recv  # type: ignore[method-assign]
        _installed = True
        return True


def _clock(wait: Any) -> SimpleNamespace:
    """A stand-in for the ``time`` module: everything is :mod:`time`'s except ``sleep``."""
    names = {name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    names["sleep"] = wait
    return SimpleNamespace(**names)


# -- DUL reactor ---------------------------------------------------------------------------


class _Waker:
    """A socket pair: the DUL thread selects on ``reader``, senders write to ``writer``."""

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)

    def kick(self) -> None:
        try:
            self.writer.send(b"\x00")
        except OSError:  # full (already kicked) or closed
            pass

    def drain(self) -> None:
        try:
            while self.reader.recv(4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


def _kick(dul: Any) -> None:
    waker = dul.__dict__.get("_telecenter_waker")
    if waker is not None:
        waker.kick()


def _dul_wait(seconds: float) -> None:
    dul = threading.current_thread()
    if not isinstance(dul, _dul.DULServiceProvider) or seconds <= 0:
        time.sleep(seconds)
        return
    waker = dul.__dict__.get("_telecenter_waker")
    if waker is None:
        waker = dul.__dict__["_telecenter_waker"] = _Waker()
        weakref.finalize(dul, waker.close)  # at the latest with the DUL object
    # Created before this check, so a primitive queued after it kicks the pair.
    if dul.to_provider_queue.qsize() or dul.event_queue.qsize() or dul._kill_thread:
        return
    watched: list[Any] = [waker.reader]
    transport = dul.socket
    raw = getattr(transport, "socket", None)
    if raw is not None and getattr(transport, "_is_connected", False):
        watched.append(raw)
    try:
        ready, _, _ = select.select(watched, [], [], seconds)
    except (OSError, ValueError):  # the connection was closed under us
        time.sleep(seconds)
        return
    if waker.reader in ready:
        waker.drain()


# -- association reactor -------------------------------------------------------------------


def _assoc_wait(seconds: float) -> None:
    assoc = threading.current_thread()
    if seconds != REACTOR_POLL or not isinstance(assoc, _association.Association):
        time.sleep(seconds)
        return
    messages: queue.Queue[Any] = assoc.dimse.msg_queue
    with messages.not_empty:
        if not messages.qsize():
            messages.not_empty.wait(seconds)


# -- socket reads --------------------------------------------------------------------------


def _recv(self: AssociationSocket, nr_bytes: int) -> bytearray:
    """``nr_bytes`` from the socket (fewer only if the peer closed), in large reads."""
    sock = self.socket
    assert sock is not None
    buffer = bytearray(nr_bytes)
    view = memoryview(buffer)
    nr_read = 0
    while nr_read < nr_bytes:
        got = sock.recv_into(view[nr_read:], min(nr_bytes - nr_read, CHUNK))
        if not got:
            view.release()
            del buffer[nr_read:]
            return buffer
        nr_read += got
    view.release()
    return buffer
