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
behave as in pynetdicom. Only the acceptor side (the node's server) uses these classes;
associations the node requests (C-MOVE destinations) are plain pynetdicom.

No peer is trusted to finish what it starts. PDUs are read a piece at a time
(:mod:`imaging.pdu_reader`): a read waits at most :data:`READ_SLICE_S` for more bytes, so the
reactor keeps its timers; the ARTIM timer (PS3.8 9.1.5) closes a connection whose
A-ASSOCIATE-RQ has not arrived whole in time, and a PDU started later must be complete within
the network timeout or the association is aborted. A PDU longer than this node takes (the
maximum length it announced for P-DATA-TF, :data:`~imaging.pdu_reader.ASSOCIATION_PDU_MAX`
otherwise) is answered with an A-ABORT as soon as its header is in. Connections are admitted
per peer address and in total, and associations count against the node's limit only once their
A-ASSOCIATE-RQ is negotiated (:mod:`imaging.admission`).

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
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from pynetdicom import _handlers, evt
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom.acse import ACSE
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

from imaging import commands
from imaging.admission import NodeLimits, Ticket
from imaging.message_size import MessageSize, MessageTooLarge
from imaging.pdu_reader import ASSOCIATION_PDU_MAX, PduReader, PduRefused

logger = logging.getLogger(__name__)

TICK = 0.05
"""Seconds between timer checks while an association has nothing to do."""
READ_SLICE_S = TICK
"""The longest a read waits for more of a PDU before the reactor looks at its timers again."""

_PDV_HEADER = struct.Struct(">LB")  # PDV item length, presentation context ID (PS3.8 9.3.5.1)
P_DATA_TF = 0x04
IDLE = "Sta1"
AWAITING_RQ = "Sta2"
ESTABLISHED = "Sta6"
AWAITING_CLOSE = "Sta13"
_SCRATCH = 64 * 1024


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
        self._reader = PduReader()
        self._message = MessageSize()
        self._scratch: bytearray | None = None  # what Sta13 reads only to ignore
        self._transport_ended = threading.Event()
        """Set once the state machine is back in Sta1: the connection is over."""

    def _wake_from_outside(self) -> None:
        """Wake the reactor, unless it is the reactor's own thread queueing work."""
        if threading.get_ident() != self.ident:
            self._wakeup.set()

    def kill_dul(self) -> None:
        super().kill_dul()
        self._wakeup.set()

    def stop_dul(self) -> bool:
        if self.state_machine.current_state != IDLE:
            return False
        self._kill_thread = True
        self._wakeup.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()
        return True

    def receive_pdu(self, wait: bool = False, timeout: float | None = None) -> Any:
        """As pynetdicom's, but a wait ends early once the connection is over.

        The acceptor waits here (up to the ARTIM timeout) for its A-ASSOCIATE-RQ; a connection
        that closes or is aborted before then must not keep its thread that long.
        """
        if not wait:
            return super().receive_pdu(wait=False)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = TICK if deadline is None else min(TICK, deadline - time.monotonic())
            if left <= 0:
                return None
            primitive = super().receive_pdu(wait=True, timeout=left)
            if primitive is not None or self._transport_ended.is_set():
                return primitive

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
                self._check_timers()
                if not self._turn():
                    return
                try:
                    event = self.event_queue.get(block=False)
                except queue.Empty:
                    idle = True
                    continue
                self.state_machine.do_action(event)
                if self.state_machine.current_state == IDLE:
                    self._transport_ended.set()
                idle = False
        finally:
            self._wakeup.close()

    def _check_timers(self) -> None:
        """The ARTIM timer, and the time the PDU in progress has taken."""
        state = self.state_machine.current_state
        if state == IDLE:
            return  # not connected yet, or over: nothing may time out
        if self.artim_timer.expired:
            self.event_queue.put("Evt18")
        elif self._reader.overdue(self.network_timeout):
            logger.warning(
                "%s: a PDU was not complete within %s s: aborting",
                _peer(self.socket),
                self.network_timeout,
            )
            self._reader.reset()
            self.event_queue.put("Evt19")  # as an invalid PDU: A-ABORT, then close

    def _pdu_limit(self, pdu_type: int) -> int:
        """The largest PDU taken of this type now (before negotiation, an association PDU)."""
        if pdu_type == P_DATA_TF and self.state_machine.current_state != AWAITING_RQ:
            return self.assoc.acceptor.maximum_length or ASSOCIATION_PDU_MAX
        return ASSOCIATION_PDU_MAX

    def _read_pdu_data(self) -> None:
        """Read on with the PDU in progress; once whole, hand it on.

        For P-DATA-TF in Sta6 the state machine's only action is DT-2 (hand the data to
        DIMSE, stay in Sta6), so it is done here without building PDU objects and events per
        PDU; every other PDU, and P-DATA-TF in any other state, takes pynetdicom's path.
        """
        sock = cast(_FastSocket, self.socket)
        if self.state_machine.current_state == AWAITING_CLOSE:
            self._discard(sock)
            return
        try:
            pdu = self._reader.read(sock.recv_into, self._pdu_limit)
        except PduRefused as exc:
            logger.error("%s: %s: aborting", _peer(sock), exc)
            self._reader.reset()
            self.event_queue.put("Evt19")  # invalid PDU: A-ABORT
            return
        except OSError as exc:  # closed, reset, or a TLS failure
            if self._reader.in_progress:
                logger.warning("%s: %s", _peer(sock), exc)
            self._reader.reset()
            self.event_queue.put("Evt17")  # transport closed
            return
        if pdu is None:  # the rest has not arrived yet
            return
        if pdu.pdu_type == P_DATA_TF and self.state_machine.current_state == ESTABLISHED:
            self._deliver(pdu.body)
            return
        try:
            decoded, event = self._decode_pdu(bytearray(pdu.header) + pdu.body)
        except Exception:  # as pynetdicom: an undecodable PDU is an invalid PDU
            logger.exception("unable to decode the received PDU")
            self.event_queue.put("Evt19")
            return
        self.event_queue.put(event)
        self._recv_pdu.put(decoded)

    def _discard(self, sock: _FastSocket) -> None:
        """Sta13 (A-ABORT or A-ASSOCIATE-RJ sent): what the peer still sends is ignored."""
        self._reader.reset()
        if self._scratch is None:
            self._scratch = bytearray(_SCRATCH)
        try:
            got = sock.recv_into(memoryview(self._scratch))
        except TimeoutError:
            return
        except OSError:
            got = 0
        if not got:
            sock.close()  # Evt17: the connection is over

    def _deliver(self, body: bytearray) -> None:
        try:
            values = presentation_data_values(body)
        except InvalidPDU as exc:
            logger.error("invalid P-DATA-TF PDU: %s", exc)
            self.event_queue.put("Evt19")
            return
        limit = cast(EventDrivenAssociation, self.assoc).limits.max_data_set
        try:
            self._message.add(values, limit)
        except MessageTooLarge as exc:
            logger.error("%s: %s: aborting", _peer(self.socket), exc)
            self.event_queue.put("Evt19")  # A-ABORT: nothing more of it is read or kept
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
            if self._process_recv_primitive():
                return True
            if not self._transport_ended.is_set() and self._is_transport_event():
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


class _LimitedACSE(ACSE):
    """ACSE that takes one of the node's association slots before it negotiates."""

    def _negotiate_as_acceptor(self) -> None:
        assoc = cast(EventDrivenAssociation, self.assoc)
        if not assoc.take_slot():
            logger.warning(
                "association from %s rejected: the node serves %d associations already",
                _peer(assoc.dul.socket),
                assoc.limits.associations.limit,
            )
            self.send_reject(0x02, 0x03, 0x02)  # transient, presentation: local limit exceeded
            evt.trigger(assoc, evt.EVT_REJECTED, {})
            assoc.kill()
            return
        super()._negotiate_as_acceptor()


class EventDrivenAssociation(Association):
    """An acceptor association whose thread waits for messages instead of polling.

    ``ticket`` is the connection's admission (released when the thread ends); ``limits`` the
    server's, whose association slot it takes once its A-ASSOCIATE-RQ arrives.
    """

    def __init__(self, ae: Any, mode: str, limits: NodeLimits, ticket: Ticket) -> None:
        super().__init__(ae, mode)
        self.limits = limits
        self.ticket = ticket
        self._holds_slot = False
        self._work = threading.Event()
        self.acse = _LimitedACSE(self)
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

    def take_slot(self) -> bool:
        self._holds_slot = self._holds_slot or self.limits.associations.take()
        return self._holds_slot

    def kill(self) -> None:
        self._work.set()
        super().kill()

    def run(self) -> None:
        """The association's thread; gives its slot and its connection's admission back."""
        try:
            super().run()
        finally:
            if self._holds_slot:
                self._holds_slot = False
                self.limits.associations.give_back()
            self.ticket.release()

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
    """The peer's socket: no Nagle delay, and every read and write bounded in time.

    A read waits at most :data:`READ_SLICE_S` (the reactor then looks at its timers and reads
    on); a write at most the network timeout (a peer that stops reading is dropped).
    """

    def __init__(
        self, assoc: Association, client_socket: socket.socket, send_timeout: float | None
    ) -> None:
        super().__init__(assoc, client_socket=client_socket)
        with contextlib.suppress(OSError):  # not a TCP socket: nothing to tune
            client_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send_timeout = send_timeout
        self._timeout: float | None = -1.0  # none set yet

    def _use_timeout(self, sock: socket.socket, timeout: float | None) -> None:
        if timeout != self._timeout:  # each change is a system call
            sock.settimeout(timeout)
            self._timeout = timeout

    def recv_into(self, view: memoryview) -> int:
        """Read what has arrived into ``view``; 0 once the peer closed.

        Raises
        ------
        TimeoutError
            Nothing arrived within :data:`READ_SLICE_S`.
        """
        sock = self.socket
        if sock is None:
            raise ConnectionAbortedError("the connection is closed")
        self._use_timeout(sock, READ_SLICE_S)
        return sock.recv_into(view)

    def close(self) -> None:
        """Close the connection; its admission is given back at once (the thread ends next)."""
        cast(EventDrivenAssociation, self.assoc).ticket.release()
        super().close()

    def send(self, bytestream: bytes) -> None:
        sock = self.socket
        if sock is not None:
            with contextlib.suppress(OSError):  # closed: pynetdicom's send reports it
                self._use_timeout(sock, self._send_timeout)
        super().send(bytestream)


class NodeServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with the node's limits.

    Connections are admitted per peer address and in total before anything is read
    (:meth:`verify_request`; socketserver closes a refused one). A TLS handshake happens on
    the association's thread: pynetdicom shakes hands in its accept loop, so one silent client
    would hold up every connection after it.
    """

    request_queue_size = 128
    """The listen backlog (socketserver's 5 drops the SYNs of a burst: each waits 1 s more)."""

    def __init__(self, *args: Any, limits: NodeLimits, **kwargs: Any) -> None:
        self.limits = limits
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client, address = cast(socket.socket, self.socket).accept()
        if self.ssl_context is not None:
            client = self.ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False
            )
        return client, address

    def verify_request(self, request: Any, client_address: Any) -> bool:
        connections = self.limits.connections
        return connections is None or connections.admit(_host(client_address))

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread for it (the caller closes the connection)
            self.connection_ended(client_address)
            raise

    def connection_ended(self, client_address: Any) -> None:
        """An admitted connection closed (called once for each)."""
        if self.limits.connections is not None:
            self.limits.connections.release(_host(client_address))


class NodeRequestHandler(RequestHandler):
    """Create each accepted association with the event-driven reactors."""

    server: NodeServer

    def handle(self) -> None:
        server, address = self.server, self.client_address
        ticket = Ticket(lambda: server.connection_ended(address))
        started = False
        try:
            if isinstance(self.request, ssl.SSLSocket) and not _handshake(
                self.request, self.ae.acse_timeout
            ):
                return
            assoc = self._create(ticket)
            evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": address})
            assoc.start()
            started = True  # the association's thread releases the ticket now
        finally:
            if not started:
                ticket.release()

    def _create(self, ticket: Ticket) -> Association:
        ae = self.ae
        assoc = EventDrivenAssociation(ae, MODE_ACCEPTOR, self.server.limits, ticket)
        assoc._server = self.server
        assoc.name = f"AcceptorThread@{datetime.now():%Y%m%d%H%M%S}"
        sock = cast(socket.socket, self.request)
        assoc.set_socket(_FastSocket(assoc, sock, ae.network_timeout))
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


def _peer(connection: socket.socket | AssociationSocket | None) -> str:
    if isinstance(connection, AssociationSocket):
        connection = connection.socket
    if connection is None:
        return "a closed connection"
    try:
        host, port = connection.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "a closed connection"


def _host(client_address: Any) -> str:
    """The peer's address without its port (what the per-peer limit counts)."""
    return str(client_address[0]) if isinstance(client_address, tuple) else str(client_address)


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


def finish_associations(server: ThreadedAssociationServer, grace_s: float) -> None:
    """Let the server's running associations finish for ``grace_s``, abort the rest, close it.

    Blocking (it polls the acceptor threads): call it from a thread of its own."""
    deadline = time.monotonic() + grace_s
    while server.active_associations and time.monotonic() < deadline:
        time.sleep(0.05)
    for assoc in server.active_associations:
        logger.warning("stopping: aborting the association with %s", assoc.requestor.ae_title)
        assoc.abort()
    server.server_close()
