"""A node worker process: DICOM associations served on a GIL of their own.

:class:`imaging.workers.WorkerPool` starts ``python -m imaging.worker`` with two inherited
sockets: ``control``, on which the server process passes each accepted connection (its file
descriptor, ``SCM_RIGHTS``) and which it closes to stop the worker; and ``channel``, on which the
worker asks what only the server process knows (devices, index rows, queries: the
:class:`imaging.backend.NodeBackend` calls, framed by :mod:`imaging.rpc`).

The worker receives, checks and writes instance files itself; the server process keeps the one
database writer.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import signal
import socket
import ssl
import sys
import threading
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from imaging import rpc
from imaging.backend import CALL_TIMEOUT_S
from imaging.dimse import Handlers
from imaging.entity import (
    NodeConfig,
    application_entity,
    node_limits,
    prepare_pynetdicom,
    supported_contexts,
    tls_context,
)
from imaging.files import FileStore
from imaging.header import InstanceHeader
from imaging.node_values import (
    DeviceInfo,
    InstanceRef,
    Level,
    ScheduledStep,
    StepReference,
    UidSelection,
    WorklistKeys,
)
from imaging.reactor import NodeRequestHandler, NodeServer, finish_associations
from imaging.receiver import Origin, Received, Receiver

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker is started with (JSON on its command line)."""

    name: str
    node: NodeConfig
    root: str
    durable: bool
    log_level: int
    per_worker: int
    """This worker's share of the node's maximum number of associations."""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSettings:
        data = json.loads(text)
        return cls(**{**data, "node": NodeConfig(**data["node"])})


class Channel:
    """Blocking calls to the server process, from any thread of the worker.

    Replies arrive in any order; one reader thread hands each to the waiting caller.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="node-channel", daemon=True)
        self._reader.start()

    def call(self, method: str, *args: Any) -> Any:
        if self._closed:
            raise rpc.ChannelClosed("the server process is gone")
        call_id = next(self._ids)
        future: Future[Any] = Future()
        self._pending[call_id] = future
        try:
            self._send(("call", call_id, method, args))
            return future.result(CALL_TIMEOUT_S)
        finally:
            self._pending.pop(call_id, None)

    def notify(self, what: str, *args: Any) -> None:
        try:
            self._send(("note", what, args))
        except OSError:
            logger.debug("channel closed: note %s dropped", what)

    def _send(self, message: Any) -> None:
        data = rpc.frame(message)
        with self._send_lock:
            self._sock.sendall(data)

    def _read(self) -> None:
        try:
            while True:
                kind, call_id, value = rpc.receive_message(self._sock)
                future = self._pending.get(call_id)
                if future is None:
                    continue  # its caller gave up waiting
                if kind == "ok":
                    future.set_result(value)
                else:
                    future.set_exception(value)
        except (rpc.ChannelClosed, OSError):
            logger.debug("channel to the server process closed")
        self._closed = True
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(rpc.ChannelClosed("the server process is gone"))


class RemoteBackend:
    """A :class:`imaging.backend.NodeBackend` over the channel to the server process."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def device(self, title: str) -> DeviceInfo | None:
        return cast(DeviceInfo | None, self.channel.call("device", title))

    def claim(self, header: InstanceHeader, origin: Origin) -> None:
        self.channel.call("claim", header, origin)

    def release(self, header: InstanceHeader, origin: Origin) -> None:
        self.channel.call("release", header, origin)

    def index(self, received: Received, origin: Origin) -> None:
        # answered once queued: a query asked after this returns sees the instance
        self.channel.call("index", received, origin)

    def find(self, device: DeviceInfo, level: Level, keys: dict[str, str]) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.channel.call("find", device, level, keys))

    def instances(self, device: DeviceInfo, uids: UidSelection) -> list[InstanceRef]:
        return cast(list[InstanceRef], self.channel.call("instances", device, uids))

    def worklist(self, device: DeviceInfo, keys: WorklistKeys) -> list[ScheduledStep]:
        return cast(list[ScheduledStep], self.channel.call("worklist", device, keys))

    def mpps_create(
        self, device: DeviceInfo, mpps_uid: str, ref: StepReference, status: str
    ) -> str:
        return cast(str, self.channel.call("mpps_create", device, mpps_uid, ref, status))

    def mpps_set(self, device: DeviceInfo, mpps_uid: str, status: str) -> str:
        return cast(str, self.channel.call("mpps_set", device, mpps_uid, status))


class ChannelCounts:
    """A :class:`imaging.counts.NodeCounts` that tells the server process (from any thread)."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def association(self, outcome: str) -> None:
        self.channel.notify("count", "association", outcome)

    def stored(self) -> None:
        self.channel.notify("count", "stored")

    def store_failed(self, status: int) -> None:
        self.channel.notify("count", "store_failed", status)


class AttachedAssociationServer(NodeServer):
    """The node's server without a listening socket: connections are handed to it (the server
    process admitted them; this worker enforces its share of the associations)."""

    def __init__(self, *args: Any, channel: Channel, **kwargs: Any) -> None:
        self._channel = channel
        super().__init__(*args, **kwargs)

    def server_bind(self) -> None:  # the server process listens
        pass

    def server_activate(self) -> None:
        pass

    def connection_ended(self, client_address: Any) -> None:
        """Each connection handed over ends once: the pool balances and admits on this."""
        self._channel.notify("ended", str(client_address[0]))


def serve(settings: WorkerSettings, control: socket.socket, channel: Channel) -> None:
    """Serve the connections passed on ``control`` until it closes."""
    prepare_pynetdicom()
    handlers = Handlers(
        backend=RemoteBackend(channel),
        receiver=Receiver(FileStore(Path(settings.root), durable=settings.durable)),
        aet=settings.node.aet,
        counts=ChannelCounts(channel),
    )
    server = AttachedAssociationServer(
        application_entity(settings.node),
        (settings.node.host, settings.node.port),
        settings.node.aet,
        supported_contexts(),
        evt_handlers=cast(Any, handlers.bindings()),
        request_handler=NodeRequestHandler,
        channel=channel,
        limits=node_limits(settings.node, associations=settings.per_worker, admit=False),
    )
    gc.collect()
    gc.freeze()  # the imported modules stay out of every later collection's scan
    channel.notify("ready")
    try:
        _take_connections(control, server, tls_context(settings.node))
    finally:
        finish_associations(server, settings.node.stop_grace_s)


def _take_connections(
    control: socket.socket, server: AttachedAssociationServer, tls: ssl.SSLContext | None
) -> None:
    """Serve each connection passed on ``control``; return once it closes."""
    while True:
        message, fds, _, _ = socket.recv_fds(control, 1024, 1)
        if not message:
            return  # the server process closed control: stop
        host, port, on_tls_port = json.loads(message)
        for fd in fds:
            connection = socket.socket(fileno=fd)
            connection.setblocking(True)  # accepted by the loop: non-blocking
            if on_tls_port and tls is not None:  # the handshake is the association's
                connection = tls.wrap_socket(
                    connection, server_side=True, do_handshake_on_connect=False
                )
            try:
                server.process_request(connection, (host, port))
            except RuntimeError as exc:  # no thread to serve it
                logger.error("connection from %s:%s dropped: %s", host, port, exc)
                connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imaging.worker")
    parser.add_argument("--control", type=int, required=True, help="inherited socket (fd)")
    parser.add_argument("--channel", type=int, required=True, help="inherited socket (fd)")
    parser.add_argument("--settings", required=True, help="WorkerSettings as JSON")
    args = parser.parse_args(argv)
    settings = WorkerSettings.from_json(args.settings)
    logging.basicConfig(
        level=settings.log_level,
        format=f"%(asctime)s %(levelname)s {settings.name} %(name)s: %(message)s",
    )
    # Ctrl-C reaches the whole process group: the server process decides when workers stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=args.control)
    channel = Channel(socket.socket(fileno=args.channel))
    serve(settings, control, channel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
