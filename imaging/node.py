"""The DICOM node: one application entity listening for the township devices.

Presentation contexts: Verification, every storage SOP class in every transfer syntax
pynetdicom knows (stored as received, compressed ones included), and Query/Retrieve FIND, MOVE
and GET in the Patient Root and Study Root models.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass
from typing import Any, cast

from pynetdicom import (
    AE,
    ALL_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
)
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import ThreadedAssociationServer

from consult.center import Center
from imaging.archive import Archive
from imaging.dimse import Handlers, LoopBridge
from imaging.sop import QR_MODELS, VERIFICATION

logger = logging.getLogger(__name__)

MAX_PDU = 4 * 1024 * 1024


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
        handlers = Handlers(
            center=self.center,
            archive=self.archive,
            bridge=LoopBridge(asyncio.get_running_loop()),
            aet=self.config.aet,
        )
        ae = self._application_entity()
        self._server = await asyncio.to_thread(
            ae.start_server,
            (self.config.host, self.config.port),
            block=False,
            evt_handlers=cast(Any, handlers.bindings()),
            contexts=supported_contexts(),
        )
        logger.info(
            "DICOM node %s listening on %s:%d", self.config.aet, self.config.host, self.port
        )

    async def stop(self) -> None:
        """Shut the listener down off the loop (handlers may be waiting on the loop)."""
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            logger.info("DICOM node %s stopped", self.config.aet)


class _Context(PresentationContext):
    """A supported context that copies cheaply.

    pynetdicom deep-copies the server's supported contexts for every association; with every
    storage SOP class in every transfer syntax that costs ~0.4 s of CPU per association (C-FIND
    latency). Supported contexts are only read during negotiation, so a shallow copy with its
    own transfer syntax list is a faithful copy.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> _Context:
        twin = copy.copy(self)
        twin._transfer_syntax = list(self._transfer_syntax)
        return twin


def _context(abstract_syntax: str, *, roles: bool = False) -> _Context:
    context = _Context()
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
