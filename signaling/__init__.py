"""Consultation rooms: the WebSocket signaling door and the media forwarding (SFU) behind it.

The web package wires :func:`make_room_ws_handler` with its own :class:`Authenticator` and
:class:`RoomAccess`, a :class:`RoomRegistry` whose media factory builds :class:`Sfu` rooms, and a
:class:`RoomObserver` on top of the consult request and the audit log.
"""

from signaling.protocol import ErrorCode, IceServer, Role
from signaling.rooms import (
    ParticipantIdentity,
    Room,
    RoomError,
    RoomObserver,
    RoomRegistry,
    RoomState,
)
from signaling.sfu import ForwardingMode, MediaConfig, Sfu
from signaling.turn import IceConfig, mint_credentials, verify_credentials
from signaling.ws import (
    Admission,
    Authenticator,
    RoomAccess,
    RoomSockets,
    WsTimeouts,
    make_room_ws_handler,
)

__all__ = [
    "Admission",
    "Authenticator",
    "ErrorCode",
    "ForwardingMode",
    "IceConfig",
    "IceServer",
    "MediaConfig",
    "ParticipantIdentity",
    "Role",
    "Room",
    "RoomAccess",
    "RoomError",
    "RoomObserver",
    "RoomRegistry",
    "RoomSockets",
    "RoomState",
    "Sfu",
    "WsTimeouts",
    "make_room_ws_handler",
    "mint_credentials",
    "verify_credentials",
]
