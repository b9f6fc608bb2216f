"""The DICOM node: one application entity listening for the township devices.

Its associations are served by threads of the server process (``workers = 0``), or by node
worker processes (:mod:`imaging.workers`) so that receiving scales with the cores. Either way
the handlers are those of :mod:`imaging.dimse`, and the database is reached only through
:class:`imaging.service.NodeService` on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from typing import Any, cast

from pynetdicom.transport import ThreadedAssociationServer

from imaging.backend import LoopBackend
from imaging.counts import NodeCounts
from imaging.dimse import Handlers
from imaging.entity import (
    NodeConfig,
    application_entity,
    node_limits,
    prepare_pynetdicom,
    supported_contexts,
    tls_context,
)
from imaging.reactor import NodeRequestHandler, NodeServer, finish_associations
from imaging.service import NodeService
from imaging.workers import WorkerPool, WorkerState

logger = logging.getLogger(__name__)


class DicomNode:
    """Start and stop the listener (and the worker processes, if any)."""

    def __init__(self, config: NodeConfig, service: NodeService, counts: NodeCounts) -> None:
        self.config = config
        self.service = service
        self.counts = counts
        self._servers: list[ThreadedAssociationServer] = []
        self._acceptors: list[threading.Thread] = []
        self._pool: WorkerPool | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when configured as an ephemeral one)."""
        if self._pool is not None:
            return self._pool.port
        if self._servers:
            return int(self._servers[0].server_address[1])
        return 0

    @property
    def tls_port(self) -> int:
        """The bound TLS port (0: none)."""
        if self._pool is not None:
            return self._pool.tls_port
        if len(self._servers) > 1:
            return int(self._servers[1].server_address[1])
        return 0

    def listening(self) -> bool:
        """Whether every port is open and accepted on (by a worker pool with a worker ready)."""
        if self._pool is not None:
            return self._pool.listening()
        return bool(self._servers) and all(
            server.socket is not None and server.socket.fileno() >= 0 and thread.is_alive()
            for server, thread in zip(self._servers, self._acceptors, strict=True)
        )

    def workers(self) -> list[WorkerState]:
        """The node worker processes (none when associations run on threads)."""
        return self._pool.state() if self._pool is not None else []

    async def start(self) -> None:
        if self.config.workers > 0:
            pool = WorkerPool(self.config, self.service, self.counts)
            await pool.start()
            self._pool = pool
        else:
            self._servers = await self._start_threads()
        logger.info(
            "DICOM node %s listening on %s:%d%s (%s)",
            self.config.aet,
            self.config.host,
            self.port,
            f", TLS on {self.tls_port}" if self.tls_port else "",
            f"{self.config.workers} worker processes" if self._pool else "threads",
        )

    async def _start_threads(self) -> list[ThreadedAssociationServer]:
        prepare_pynetdicom()
        handlers = Handlers(
            backend=LoopBackend(self.service, asyncio.get_running_loop()),
            receiver=self.service.archive.receiver,
            aet=self.config.aet,
            counts=self.counts,
        )
        ae = application_entity(self.config)
        limits = node_limits(self.config)  # one count over both ports
        ports: list[tuple[int, ssl.SSLContext | None]] = [(self.config.port, None)]
        if self.config.tls_port:
            ports.append((self.config.tls_port, tls_context(self.config)))
        servers = []
        for port, context in ports:
            server = await asyncio.to_thread(
                ae.make_server,
                (self.config.host, port),
                evt_handlers=cast(Any, handlers.bindings()),
                contexts=supported_contexts(),
                ssl_context=context,
                server_class=NodeServer,
                request_handler=NodeRequestHandler,
                limits=limits,
            )
            name = "dicom-acceptor-tls" if context else "dicom-acceptor"
            acceptor = threading.Thread(target=server.serve_forever, name=name, daemon=True)
            acceptor.start()
            self._acceptors.append(acceptor)
            ae._servers.append(server)  # as start_server does: shutdown() takes it out again
            servers.append(server)
        return servers

    async def stop(self) -> None:
        """Stop accepting, let running associations finish for ``stop_grace_s``, abort the rest.

        Off the loop (handlers may be waiting on the loop); calling it again does nothing."""
        if self._pool is None and not self._servers:
            return
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.stop()
        servers, self._servers = self._servers, []
        for server in servers:
            await asyncio.to_thread(server.shutdown)  # no new connection from here on
        self._acceptors = []
        grace = self.config.stop_grace_s
        await asyncio.gather(
            *(asyncio.to_thread(finish_associations, server, grace) for server in servers)
        )
        logger.info("DICOM node %s stopped", self.config.aet)
