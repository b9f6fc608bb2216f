"""Event-driven association reactors for the node's pynetdicom server.

pynetdicom runs each association on two threads that *poll*: the upper-layer (DUL) thread
sleeps 1 ms whenever it finds nothing to do, and the association thread sleeps 1 ms before each
look at its message queue (``dul.py``: "TODO: try and make this event based"). A C-STORE waits
through both sleeps, on arrival and on the response, so on one association the polling alone
costs about as much as the whole store. Here both threads *wait for work* instead:

- the DUL thread blocks in ``select()`` on the peer's socket and on a self-pipe that is written
  whenever a primitive is queued for it (a response to send, a release, an abort, a stop);
- the association thread blocks on an event set whenever the DUL thread queues a DIMSE message
  or an upper-layer primitive (release, abort) for it.

Each wait also wakes every :data:`TICK` seconds to check the ARTIM and idle timers, so timeouts
behave as in pynetdicom. Reads fill one buffer with ``recv_into`` instead of 4 KiB ``recv``
calls. Only the acceptor side (the node's server) uses these classes; associations the node
requests (C-MOVE destinations) are plain pynetdicom.

These subclasses override pynetdicom's reactor loops, so the project pins pynetdicom to the
3.0 series; the DICOM tests (pynetdicom and dcmtk peers) exercise every path.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from pynetdicom import _handlers, evt
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

from imaging import commands

logger = logging.getLogger(__name__)

TICK = 0.05
"""Seconds between timer checks while an association has nothing to do."""

_PDU_HEADER = struct.Struct(">BxL")  # PDU type, reserved, length (PS3.8 9.3.1)
_PDV_HEADER = struct.Struct(">LB")  # PDV item length, presentation context ID (PS3.8 9.3.5.1)
_PDU_TYPES = frozenset(range(0x01, 0x08))
P_DATA_TF = 0x04
ESTABLISHED = "Sta6"


class InvalidPDU(ValueError):
    """A P-DATA-TF PDU whose items do not add up."""


def presentation_data_values(body: bytes) -> list[list[Any]]:
    """Split a P-DATA-TF PDU's body into ``[context ID, control header + fragment]`` items.

    Raises
    ------
    InvalidPDU
        An item shorter than its header or running past the end of the PDU.
    """
    values: list[list[Any]] = []
    offset, end = 0, len(body)
    view = memoryview(body)
    while offset < end:
        if offset + _PDV_HEADER.size + 1 > end:
            raise InvalidPDU("truncated presentation data value item")
        length, context_id = _PDV_HEADER.unpack_from(body, offset)
        stop = offset + 4 + length
        if length < 2 or stop > end:
            raise InvalidPDU(f"presentation data value item of length {length} does not fit")
        values.append([context_id, bytes(view[offset + _PDV_HEADER.size : stop])])
        offset = stop
    return values


class _WakingQueue(queue.Queue[Any]):
    """A queue that calls ``wake`` after each put, so its consumer need not poll."""

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__()
        self._wake = wake

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._wake()


class _SelfPipe:
    """A wake-up a thread can ``select()`` on beside a socket."""

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)

    def set(self) -> None:
        # full: a wake-up is already pending; closed: the reactor has stopped
        with contextlib.suppress(OSError):
            self._write.send(b"\0")

    def wait(self, sock: socket.socket | None, timeout: float) -> None:
        """Block until ``sock`` is readable, :meth:`set` was called, or ``timeout``."""
        watched: list[Any] = [self._read]
        if sock is not None and sock.fileno() >= 0:
            watched.append(sock)
        with contextlib.suppress(OSError, ValueError):  # closed under us: the loop sees it
            select.select(watched, [], [], timeout)
        self._drain()

    def _drain(self) -> None:
        try:
            while self._read.recv(4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self._read.close()
        self._write.close()


class EventDrivenDUL(DULServiceProvider):
    """The DICOM upper layer provider, waiting in ``select()`` instead of sleeping."""

    def __init__(self, assoc: Association) -> None:
        super().__init__(assoc)
        self._wakeup = _SelfPipe()
        self.event_queue = _WakingQueue(self._wake_from_outside)
        self.to_provider_queue = _WakingQueue(self._wake_from_outside)

    def _wake_from_outside(self) -> None:
        """Wake the reactor, unless it is the reactor's own thread queueing work."""
        if threading.get_ident() != self.ident:
            self._wakeup.set()

    def kill_dul(self) -> None:
        super().kill_dul()
        self._wakeup.set()

    def stop_dul(self) -> bool:
        if self.state_machine.current_state != "Sta1":
            return False
        self._kill_thread = True
        self._wakeup.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()
        return True

    def run_reactor(self) -> None:
        """The DUL loop: one transport or user event per turn, and a wait when idle."""
        self._idle_timer.start()
        idle = False
        try:
            while True:
                if not self.assoc._dul_ready.is_set():
                    self.assoc._dul_ready.set()
                if idle:
                    self._wait_for_work()
                if self._kill_thread:
                    break
                if self.artim_timer.expired:
                    self.event_queue.put("Evt18")
                if not self._turn():
                    return
                try:
                    event = self.event_queue.get(block=False)
                except queue.Empty:
                    idle = True
                    continue
                self.state_machine.do_action(event)
                idle = False
        finally:
            self._wakeup.close()

    def _read_pdu_data(self) -> None:
        """Read one PDU; on an established association, data goes straight to DIMSE.

        For P-DATA-TF in Sta6 the state machine's only action is DT-2 (hand the data to
        DIMSE, stay in Sta6), so it is done here without building PDU objects and events per
        PDU; every other PDU, and P-DATA-TF in any other state, takes pynetdicom's path.
        """
        sock = cast(AssociationSocket, self.socket)
        try:
            header = sock.recv(_PDU_HEADER.size)
            if len(header) < _PDU_HEADER.size:
                self.event_queue.put("Evt17")  # transport closed
                return
            pdu_type, length = _PDU_HEADER.unpack(header)
            if pdu_type not in _PDU_TYPES:
                logger.error("unknown PDU type 0x%02X received", pdu_type)
                self.event_queue.put("Evt19")  # invalid PDU: A-ABORT
                return
            body = sock.recv(length)
        except (OSError, TimeoutError):
            logger.warning("connection closed before the whole PDU was received")
            self.event_queue.put("Evt17")
            return
        if len(body) != length:
            logger.warning("PDU shorter than announced (%d of %d bytes)", len(body), length)
            self.event_queue.put("Evt17")
            return
        if pdu_type == P_DATA_TF and self.state_machine.current_state == ESTABLISHED:
            self._deliver(body)
            return
        try:
            pdu, event = self._decode_pdu(header + body)
        except Exception:  # as pynetdicom: an undecodable PDU is an invalid PDU
            logger.exception("unable to decode the received PDU")
            self.event_queue.put("Evt19")
            return
        self.event_queue.put(event)
        self._recv_pdu.put(pdu)

    def _deliver(self, body: bytes) -> None:
        try:
            values = presentation_data_values(body)
        except InvalidPDU as exc:
            logger.error("invalid P-DATA-TF PDU: %s", exc)
            self.event_queue.put("Evt19")
            return
        primitive = P_DATA()
        primitive.presentation_data_value_list = cast(Any, values)  # [ID, bytes] lists
        self.assoc.dimse.receive_primitive(primitive)

    def _wait_for_work(self) -> None:
        wrapped = self.socket.socket if self.socket is not None else None
        pending = getattr(wrapped, "pending", None)  # TLS may hold decrypted bytes
        if pending is not None and pending():
            return
        self._wakeup.wait(wrapped, TICK)

    def _turn(self) -> bool:
        """Send one queued primitive or read one PDU; False once the association is dead."""
        try:
            if not self._process_recv_primitive() and self._is_transport_event():
                self._idle_timer.restart()
        except Exception:  # as pynetdicom: an upper-layer failure aborts the association
            logger.exception("upper-layer failure; aborting the association")
            self._abort_now()
            return False
        return True

    def _abort_now(self) -> None:
        """Bypass the state machine (it may be the failing part) and send an A-ABORT."""
        abort = A_ABORT_RQ()
        abort.source = 0x02
        abort.reason_diagnostic = 0x00
        sock = self.socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.send(abort.encode())
        self.assoc.is_aborted = True
        self.assoc.is_established = False
        self.assoc._kill = True
        self._kill_thread = True


class FastResponseDIMSE(DIMSEServiceProvider):
    """DIMSE whose C-ECHO/C-STORE/C-FIND responses are encoded by :mod:`imaging.commands`.

    Other messages (and responses with more elements) take pynetdicom's encoder; the
    EVT_DIMSE_SENT notification is not raised for the fast ones (only pynetdicom's DEBUG dump
    listens to it, and it is unbound unless DEBUG logging is on).
    """

    def send_msg(self, primitive: Any, context_id: int) -> None:
        command = commands.response_command(primitive)
        if command is None:
            super().send_msg(primitive, context_id)
            return
        data = commands.response_data(primitive)
        for pdata in commands.p_data(context_id, command, data, self.maximum_pdu_size):
            self.dul.send_pdu(pdata)


_DEBUG_HANDLERS = (
    (evt.EVT_DIMSE_RECV, _handlers.standard_dimse_recv_handler),
    (evt.EVT_DIMSE_SENT, _handlers.standard_dimse_sent_handler),
    (evt.EVT_PDU_RECV, _handlers.standard_pdu_recv_handler),
    (evt.EVT_PDU_SENT, _handlers.standard_pdu_sent_handler),
)
"""pynetdicom's message dumps: they only write DEBUG lines but format every PDU and message."""


class EventDrivenAssociation(Association):
    """An acceptor association whose thread waits for messages instead of polling."""

    def __init__(self, ae: Any, mode: str) -> None:
        super().__init__(ae, mode)
        self._work = threading.Event()
        self.dul = EventDrivenDUL(self)
        self.dul.to_user_queue = _WakingQueue(self._work.set)
        self.dimse = FastResponseDIMSE(self)
        self.dimse.msg_queue = _WakingQueue(self._work.set)
        # the timeouts live on the upper layer's timers: apply them to the new one
        self.acse_timeout = self.ae.acse_timeout
        self.network_timeout = self.ae.network_timeout
        if not logging.getLogger("pynetdicom").isEnabledFor(logging.DEBUG):
            for event, handler in _DEBUG_HANDLERS:
                self.unbind(event, handler)

    def kill(self) -> None:
        self._work.set()
        super().kill()

    def run(self) -> None:
        """The association's thread; tells its server (when it asks to know) that it ended."""
        try:
            super().run()
        finally:
            ended = getattr(self._server, "association_ended", None)
            if ended is not None:
                ended()

    def _run_reactor(self) -> None:
        """Serve DIMSE messages until the association is released, aborted or times out."""
        self._is_paused = False
        busy = False
        while not self._kill:
            if not busy:
                self._work.wait(TICK)
            self._work.clear()
            # A service the handler runs (C-GET sub-operations) pauses the reactor.
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False
            context_id, msg = self.dimse.get_msg(block=False)
            busy = msg is not None
            if msg is not None:
                self._serve_request(msg, cast(int, context_id))
            if self._finished():
                return

    def _finished(self) -> bool:
        """Handle a release, an abort, a dead upper layer or the idle timeout."""
        if self.is_established and self.acse.is_release_requested():
            self.acse.send_release(is_response=True)
            logger.info("Association Released")
            self.is_released = True
            self.is_established = False
            evt.trigger(self, evt.EVT_RELEASED, {})
            self.kill()
            return True
        if self.acse.is_aborted():
            logger.info("Association Aborted")
            self.dul.receive_pdu(wait=False)  # so EVT_ACSE_RECV fires for subscribers
            self.is_aborted = True
            self.is_established = False
            evt.trigger(self, evt.EVT_ABORTED, {})
            self.kill()
            return True
        if not self.dul.is_alive():
            self.kill()
            return True
        if self.dul.idle_timer_expired():
            logger.error("Network timeout reached")
            self.abort()
            self.kill()
            return True
        return False


class _FastSocket(AssociationSocket):
    """The peer's socket: no Nagle delay, and whole PDUs read into one buffer."""

    def __init__(self, assoc: Association, client_socket: socket.socket) -> None:
        super().__init__(assoc, client_socket=client_socket)
        with contextlib.suppress(OSError):  # not a TCP socket: nothing to tune
            client_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def recv(self, nr_bytes: int) -> bytearray:
        sock = cast(socket.socket, self.socket)
        buffer = bytearray(nr_bytes)
        got = 0
        with memoryview(buffer) as view:
            while got < nr_bytes:
                n = sock.recv_into(view[got:], nr_bytes - got)
                if not n:  # the peer closed: return what arrived, as pynetdicom does
                    break
                got += n
        del buffer[got:]
        return buffer


class NodeServer(ThreadedAssociationServer):
    """pynetdicom's threaded server; a TLS handshake happens on the association's thread.

    pynetdicom shakes hands in its accept loop, so one silent client would hold up every
    connection after it.
    """

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client, address = cast(socket.socket, self.socket).accept()
        if self.ssl_context is not None:
            client = self.ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False
            )
        return client, address


class NodeRequestHandler(RequestHandler):
    """Create each accepted association with the event-driven reactors."""

    def handle(self) -> None:
        if isinstance(self.request, ssl.SSLSocket) and not _handshake(
            self.request, self.ae.acse_timeout
        ):
            return
        super().handle()

    def _create_association(self) -> Association:
        ae = self.ae
        assoc = EventDrivenAssociation(ae, MODE_ACCEPTOR)
        assoc._server = self.server
        assoc.name = f"AcceptorThread@{datetime.now():%Y%m%d%H%M%S}"
        assoc.set_socket(_FastSocket(assoc, cast(socket.socket, self.request)))
        acceptor = assoc.acceptor
        acceptor.maximum_length = ae.maximum_pdu_size
        acceptor.ae_title = self.server.ae_title
        acceptor.address_info = self.local
        acceptor.implementation_class_uid = ae.implementation_class_uid
        acceptor.implementation_version_name = ae.implementation_version_name
        acceptor.supported_contexts = [_copy(cx) for cx in self.server.contexts]
        assoc.requestor.address_info = self.remote
        for event, handlers in self.server._handlers.items():
            if event.is_intervention and handlers:
                assoc.bind(event, *handlers)
            elif isinstance(event, evt.NotificationEvent):
                for handler, args in cast(list[tuple[Any, Any]], handlers):
                    assoc.bind(event, handler, args)
        return assoc


def _handshake(connection: ssl.SSLSocket, timeout: float | None) -> bool:
    """Complete the server side of a TLS handshake, or close the connection."""
    try:
        connection.settimeout(timeout)
        connection.do_handshake()
        connection.settimeout(None)
    except OSError as exc:  # ssl.SSLError and timeouts included
        logger.warning("TLS handshake with %s failed: %s", _peer(connection), exc)
        connection.close()
        return False
    return True


def _peer(connection: socket.socket) -> str:
    try:
        host, port = connection.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "a closed connection"


def _copy(context: PresentationContext) -> PresentationContext:
    """A supported context for one association (only read during negotiation).

    pynetdicom deep-copies the server's contexts for every association, ~0.4 s of CPU with
    every storage SOP class in every transfer syntax; a shallow copy with its own transfer
    syntax list is a faithful copy.
    """
    twin = PresentationContext()
    twin.__dict__.update(context.__dict__)
    twin._transfer_syntax = list(context._transfer_syntax)
    return twin
