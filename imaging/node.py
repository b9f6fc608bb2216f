"""The DICOM node: one application entity listening for the township devices.

Presentation contexts: Verification, every storage SOP class in every transfer syntax
pynetdicom knows (stored as received, compressed ones included), and Query/Retrieve FIND, MOVE
and GET in the Patient Root and Study Root models.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from dataclasses import dataclass
from typing import Any, cast

from pynetdicom import (
    AE,
    ALL_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    _config,
)
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import ThreadedAssociationServer

from consult.center import Center
from imaging.archive import Archive
from imaging.dimse import Handlers, LoopBridge
from imaging.reactor import NodeRequestHandler
from imaging.sop import QR_MODELS, VERIFICATION

logger = logging.getLogger(__name__)

MAX_PDU = 4 * 1024 * 1024
SWITCH_INTERVAL_S = 0.0005
"""How long a running thread keeps the GIL from one that waits (CPython's default is 5 ms).

Each association is a chain of short steps on two threads (read a PDU, store, answer), each
needing the GIL; with several associations at once, waiting out the default interval at every
step would dominate the time of a store."""


@dataclass(frozen=True)
class NodeConfig:
    aet: str = "TELECENTER"
    host: str = "127.0.0.1"
    port: int = 11112
    max_pdu: int = MAX_PDU
    maximum_associations: int = 16


class DicomNode:
    """Start and stop the listener; the handlers live in :mod:`imaging.dimse`."""

    def __init__(self, config: NodeConfig, center: Center, archive: Archive) -> None:
        self.config = config
        self.center = center
        self.archive = archive
        self._server: ThreadedAssociationServer | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when configured as an ephemeral one)."""
        if self._server is None:
            return 0
        return int(self._server.server_address[1])

    def _application_entity(self) -> AE:
        ae = AE(ae_title=self.config.aet)
        ae.maximum_pdu_size = self.config.max_pdu
        ae.maximum_associations = self.config.maximum_associations
        ae.network_timeout = 60
        ae.acse_timeout = 30
        ae.dimse_timeout = 60
        return ae

    async def start(self) -> None:
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        # pynetdicom pretty-prints every C-FIND/MOVE/GET identifier for its INFO log, needed
        # or not (~20 % of a C-FIND answer's cost); the handlers log what they decide instead
        _config.LOG_REQUEST_IDENTIFIERS = False
        _config.LOG_RESPONSE_IDENTIFIERS = False
        handlers = Handlers(
            center=self.center,
            archive=self.archive,
            bridge=LoopBridge(asyncio.get_running_loop()),
            aet=self.config.aet,
        )
        ae = self._application_entity()
        server = await asyncio.to_thread(
            ae.make_server,
            (self.config.host, self.config.port),
            evt_handlers=cast(Any, handlers.bindings()),
            contexts=supported_contexts(),
            server_class=ThreadedAssociationServer,
            request_handler=NodeRequestHandler,
        )
        threading.Thread(target=server.serve_forever, name="dicom-acceptor", daemon=True).start()
        ae._servers.append(server)  # as start_server does: shutdown() takes it out again
        self._server = server
        logger.info(
            "DICOM node %s listening on %s:%d", self.config.aet, self.config.host, self.port
        )

    async def stop(self) -> None:
        """Shut the listener down off the loop (handlers may be waiting on the loop)."""
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            logger.info("DICOM node %s stopped", self.config.aet)


def _context(abstract_syntax: str, *, roles: bool = False) -> PresentationContext:
    context = PresentationContext()
    context.abstract_syntax = abstract_syntax
    context.transfer_syntax = list(ALL_TRANSFER_SYNTAXES)
    if roles:  # Storage SCP, and SCU-side role acceptance for C-GET sub-operations
        context.scu_role = True
        context.scp_role = True
    return context


def supported_contexts() -> list[PresentationContext]:
    """Verification, every storage SOP class, Query/Retrieve (every transfer syntax)."""
    contexts: list[PresentationContext] = [_context(VERIFICATION)]
    contexts += [
        _context(str(c.abstract_syntax), roles=True) for c in AllStoragePresentationContexts
    ]
    contexts += [_context(model) for model in QR_MODELS]
    return contexts
