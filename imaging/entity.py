"""The node's application entity: its configuration, presentation contexts and pynetdicom
settings, the same in the server process and in every node worker process.

Presentation contexts: Verification, every storage SOP class in every transfer syntax
pynetdicom knows (stored as received, compressed ones included), and Query/Retrieve FIND, MOVE
and GET in the Patient Root and Study Root models.
"""

from __future__ import annotations

import ssl
import sys
from dataclasses import dataclass

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, _config
from pynetdicom.presentation import PresentationContext

from imaging.admission import AssociationSlots, ConnectionLimits, NodeLimits
from imaging.sop import MODALITY_WORKLIST_FIND, MPPS, QR_MODELS, VERIFICATION

MAX_PDU = 4 * 1024 * 1024
MAX_DATA_SET = 512 * 1024 * 1024
SWITCH_INTERVAL_S = 0.0005
"""How long a running thread keeps the GIL from one that waits (CPython's default is 5 ms).

Each association is a chain of short steps on two threads (read a PDU, store, answer), each
needing the GIL; with several associations at once, waiting out the default interval at every
step would dominate the time of a store."""


@dataclass(frozen=True)
class NodeConfig:
    """The node's settings (see :class:`web.settings.Settings`, ``dicom_*``)."""

    aet: str = "TELECENTER"
    host: str = "127.0.0.1"
    port: int = 11112
    max_pdu: int = MAX_PDU
    max_data_set: int = MAX_DATA_SET
    """The largest data set a DIMSE message may carry (its P-DATA added up), in bytes: one
    beyond is aborted as soon as it passes, so an association never buffers more."""
    maximum_associations: int = 16
    """Associations served at once (counted from their A-ASSOCIATE-RQ)."""
    max_per_peer: int = 8
    """Open connections from one address (associated or not)."""
    max_connections: int = 64
    """Open connections in all (associated or still negotiating)."""
    artim_s: float = 10.0
    """ARTIM timer (PS3.8 9.1.5): from connection to a whole A-ASSOCIATE-RQ, and the wait for
    the peer to close after an A-ABORT or A-ASSOCIATE-RJ; also the TLS handshake's limit."""
    network_timeout_s: float = 60.0
    """An association idle this long is aborted; so is one whose PDU is not whole this long
    after its first byte, or whose peer takes this long to accept what the node sends."""
    workers: int = 0
    """Node worker processes serving the associations (0: threads of the server process)."""
    tls_port: int = 0
    """A second port speaking TLS (0: none); with the PEM files below."""
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    """If set, a device must present a certificate signed by this authority."""
    stop_grace_s: float = 5.0
    """A stopping node lets running associations finish this long, then aborts them."""


def application_entity(config: NodeConfig) -> AE:
    ae = AE(ae_title=config.aet)
    ae.maximum_pdu_size = config.max_pdu
    # pynetdicom counts every connection's thread against this before negotiating, those
    # still waiting for their A-ASSOCIATE-RQ included: the node's own limits (node_limits)
    # decide, this one never refuses first
    ae.maximum_associations = config.max_connections
    ae.network_timeout = config.network_timeout_s
    ae.acse_timeout = config.artim_s
    ae.dimse_timeout = 60
    return ae


def node_limits(
    config: NodeConfig, *, associations: int | None = None, admit: bool = True
) -> NodeLimits:
    """One server's limits: its share of the associations; connections counted if ``admit``
    (not in a node worker: the server process admits them before it hands them over)."""
    connections = ConnectionLimits(config.max_per_peer, config.max_connections) if admit else None
    slots = AssociationSlots(associations or config.maximum_associations)
    return NodeLimits(connections, slots, config.max_data_set)


def tls_context(config: NodeConfig) -> ssl.SSLContext | None:
    """The TLS port's server context (TLS 1.2 or later, as the BCP 195 profiles require)."""
    if not config.tls_port:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    if config.tls_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(config.tls_ca)
    return context


def prepare_pynetdicom() -> None:
    """Process-wide settings for serving associations."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    # pynetdicom pretty-prints every C-FIND/MOVE/GET identifier for its INFO log, needed
    # or not (~20 % of a C-FIND answer's cost); the handlers log what they decide instead
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False


def _context(abstract_syntax: str, *, roles: bool = False) -> PresentationContext:
    context = PresentationContext()
    context.abstract_syntax = abstract_syntax
    context.transfer_syntax = list(ALL_TRANSFER_SYNTAXES)
    if roles:  # Storage SCP, and SCU-side role acceptance for C-GET sub-operations
        context.scu_role = True
        context.scp_role = True
    return context


def supported_contexts() -> list[PresentationContext]:
    """Verification, every storage SOP class, Query/Retrieve, Modality Worklist and MPPS
    (every transfer syntax)."""
    contexts: list[PresentationContext] = [_context(VERIFICATION)]
    contexts += [
        _context(str(c.abstract_syntax), roles=True) for c in AllStoragePresentationContexts
    ]
    contexts += [_context(model) for model in QR_MODELS]
    contexts += [_context(MODALITY_WORKLIST_FIND), _context(MPPS)]
    return contexts
