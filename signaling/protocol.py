"""The room WebSocket protocol: JSON text messages, parsed and checked here only.

Every message is a frozen dataclass that validates itself in ``__post_init__``; ``decode`` turns a
text frame into one of them (or raises :class:`ProtocolError`), ``encode`` turns one back into text.
Field names on the wire are the dataclass field names (snake_case); the ``type`` key names the
message. ``signaling/PROTOCOL.md`` documents the same schema for client authors.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from consult import jsonguard

MAX_TEXT = 64 * 1024  # a frame larger than this is refused before parsing
MAX_CHAT = 2000
MAX_SDP = 32 * 1024
MAX_NAME = 200
MAX_DEPTH = 8  # no message nests deeper


class ProtocolError(ValueError):
    """A frame that is not a valid message; ``code`` is the error code sent back, ``ref`` the
    type of the message when the frame names a known one (else None)."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.ref = ref


class Role(enum.Enum):
    HOST = "host"  # the requesting doctor: admits, removes, ends
    MEMBER = "member"  # the assigned specialist: joins without waiting
    GUEST = "guest"  # everyone else (patient, family, nurse): waits in the lobby


class CoViewAction(enum.Enum):
    OPEN = "open"
    CLOSE = "close"
    SLICE = "slice"
    WINDOW = "window"
    PAN_ZOOM = "pan_zoom"
    POINTER = "pointer"


class ErrorCode(enum.Enum):
    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    OUT_OF_ORDER = "out_of_order"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    ROOM_FULL = "room_full"
    ROOM_ENDED = "room_ended"  # the host ended it; only a host's join opens the next one
    MEDIA_FAILED = "media_failed"
    CONNECT_TIMEOUT = "connect_timeout"
    INTERNAL = "internal"  # the server failed; it is logged there


class ByeReason(enum.Enum):
    LEFT = "left"
    REMOVED = "removed"
    ENDED = "ended"
    REPLACED = "replaced"  # the same person connected again elsewhere
    TIMEOUT = "timeout"  # no ``join`` in time
    SHUTDOWN = "shutdown"  # the server is stopping; the room did not end
    SESSION_ENDED = "session_ended"  # the sign-in the socket was opened with ended


def _check(ok: bool, what: str, value: object) -> None:
    if not ok:
        raise ValueError(f"invalid {what}: {value!r}")


def _check_text(value: str, what: str, limit: int, *, empty: bool = False) -> None:
    _check((empty or bool(value)) and len(value) <= limit, what, value[:40])


# --- nested values -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def __post_init__(self) -> None:
        _check(bool(self.urls), "ice server urls", self.urls)
        for url in self.urls:
            _check(url.split(":", 1)[0] in ("stun", "stuns", "turn", "turns"), "ice url", url)


@dataclass(frozen=True)
class ParticipantInfo:
    participant_id: str
    display_name: str
    role: Role
    in_lobby: bool = False
    audio_muted: bool = False
    video_muted: bool = False
    hand_raised: bool = False
    audio_only: bool = False

    def __post_init__(self) -> None:
        _check_text(self.participant_id, "participant_id", MAX_NAME)
        _check_text(self.display_name, "display_name", MAX_NAME, empty=True)


@dataclass(frozen=True)
class MediaSlot:
    mid: str
    kind: str
    participant_id: str | None = None

    def __post_init__(self) -> None:
        _check(self.kind in ("audio", "video"), "kind", self.kind)


@dataclass(frozen=True)
class CoViewParam:
    name: str
    value: float

    def __post_init__(self) -> None:
        _check_text(self.name, "co-view parameter", 64)


# --- messages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    type: ClassVar[str] = ""


@dataclass(frozen=True)
class Join(Message):
    type: ClassVar[str] = "join"
    display_name: str = ""
    audio_only: bool = False

    def __post_init__(self) -> None:
        _check_text(self.display_name, "display_name", MAX_NAME, empty=True)


@dataclass(frozen=True)
class Offer(Message):
    type: ClassVar[str] = "offer"
    sdp: str

    def __post_init__(self) -> None:
        _check(0 < len(self.sdp) <= MAX_SDP and self.sdp.startswith("v=0"), "sdp", self.sdp[:40])


@dataclass(frozen=True)
class Answer(Message):
    type: ClassVar[str] = "answer"
    sdp: str

    def __post_init__(self) -> None:
        _check(0 < len(self.sdp) <= MAX_SDP and self.sdp.startswith("v=0"), "sdp", self.sdp[:40])


@dataclass(frozen=True)
class Candidate(Message):
    """One trickled ICE candidate; an empty ``candidate`` means end of candidates."""

    type: ClassVar[str] = "candidate"
    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None

    def __post_init__(self) -> None:
        fields = self.candidate.removeprefix("candidate:").split()
        well_formed = not self.candidate or (len(fields) >= 8 and fields[6] == "typ")
        _check(len(self.candidate) <= 1024 and well_formed, "candidate", self.candidate[:40])
        index = self.sdp_mline_index
        _check(index is None or index >= 0, "sdp_mline_index", index)


@dataclass(frozen=True)
class Leave(Message):
    type: ClassVar[str] = "leave"


@dataclass(frozen=True)
class Mute(Message):
    """Your own mute state; not relayed: the others see it in the next ``roster``."""

    type: ClassVar[str] = "mute"
    audio_muted: bool
    video_muted: bool


@dataclass(frozen=True)
class AudioOnly(Message):
    """Stop (or resume) receiving video; shown to the others in the next ``roster``."""

    type: ClassVar[str] = "audio_only"
    enabled: bool


@dataclass(frozen=True)
class Chat(Message):
    type: ClassVar[str] = "chat"
    text: str
    participant_id: str | None = None  # filled in by the server when relayed

    def __post_init__(self) -> None:
        _check_text(self.text, "chat text", MAX_CHAT)


@dataclass(frozen=True)
class RaiseHand(Message):
    """Raise or lower your hand; shown to the others in the next ``roster``."""

    type: ClassVar[str] = "raise_hand"
    raised: bool


@dataclass(frozen=True)
class CoView(Message):
    """A shared-viewing event (an image, a tracing): relayed to the others as it is."""

    type: ClassVar[str] = "co_view"
    action: CoViewAction
    resource: str
    params: tuple[CoViewParam, ...] = ()
    participant_id: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.resource, "resource", 512)
        _check(len(self.params) <= 16, "params", len(self.params))


@dataclass(frozen=True)
class Admit(Message):
    type: ClassVar[str] = "admit"
    participant_id: str


@dataclass(frozen=True)
class Remove(Message):
    type: ClassVar[str] = "remove"
    participant_id: str


@dataclass(frozen=True)
class End(Message):
    type: ClassVar[str] = "end"


@dataclass(frozen=True)
class Lobby(Message):
    """Server: you are waiting for the host to admit you."""

    type: ClassVar[str] = "lobby"
    participant_id: str


@dataclass(frozen=True)
class Joined(Message):
    """Server: you are in; offer a peer connection with ``slots`` receive slots per kind."""

    type: ClassVar[str] = "joined"
    participant_id: str
    role: Role
    ice_servers: tuple[IceServer, ...]
    slots: int

    def __post_init__(self) -> None:
        _check(0 <= self.slots <= 16, "slots", self.slots)


@dataclass(frozen=True)
class Roster(Message):
    type: ClassVar[str] = "roster"
    participants: tuple[ParticipantInfo, ...]
    recording: bool = False


@dataclass(frozen=True)
class MediaMap(Message):
    """Server: which receive slot (by mid) carries whose audio or video."""

    type: ClassVar[str] = "media_map"
    slots: tuple[MediaSlot, ...]


@dataclass(frozen=True)
class Connected(Message):
    """Server: your peer connection is up; ``setup_ms`` is offer-to-connected on the server."""

    type: ClassVar[str] = "connected"
    setup_ms: int


@dataclass(frozen=True)
class Error(Message):
    type: ClassVar[str] = "error"
    code: ErrorCode
    message: str
    ref: str | None = None  # the type of the message that caused it, when known


@dataclass(frozen=True)
class Bye(Message):
    """Server: the session is over; the socket closes after this message."""

    type: ClassVar[str] = "bye"
    reason: ByeReason


CLIENT_MESSAGES: tuple[type[Message], ...] = (
    Join,
    Offer,
    Candidate,
    Leave,
    Mute,
    AudioOnly,
    Chat,
    RaiseHand,
    CoView,
    Admit,
    Remove,
    End,
)
SERVER_MESSAGES: tuple[type[Message], ...] = (
    Lobby,
    Joined,
    Answer,
    Roster,
    MediaMap,
    Connected,
    Chat,
    CoView,
    Error,
    Bye,
)
MESSAGE_TYPES: Mapping[str, type[Message]] = types.MappingProxyType(
    {cls.type: cls for cls in CLIENT_MESSAGES + SERVER_MESSAGES}
)


# --- codec ---------------------------------------------------------------------------------------


def encode(msg: Message) -> str:
    """The JSON text of ``msg``: ``{"type": ..., <fields>}``."""
    body = {"type": msg.type, **_to_json(msg)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def decode(text: str | bytes) -> Message:
    """Parse one text frame; raises :class:`ProtocolError` naming what is wrong."""
    if len(text) > MAX_TEXT:
        raise ProtocolError(ErrorCode.MALFORMED.value, "message too large")
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(ErrorCode.MALFORMED.value, f"not JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError(ErrorCode.MALFORMED.value, "JSON nested too deep") from None
    if not isinstance(body, dict):
        raise ProtocolError(ErrorCode.MALFORMED.value, "a message is a JSON object")
    problem = jsonguard.walk_problem(body, "message", max_depth=MAX_DEPTH)
    if problem:
        raise ProtocolError(ErrorCode.MALFORMED.value, f"{problem[0]}: {problem[1]}")
    kind = body.pop("type", None)
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE.value, f"unknown message type {kind!r}")
    try:
        return typing.cast(Message, _from_json(cls, body, kind))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(ErrorCode.MALFORMED.value, f"{kind}: {exc}", ref=kind) from None


def _to_json(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_to_json(item) for item in value]
    return value


def _from_json(cls: type, body: object, where: str) -> object:
    """Build ``cls`` from checked fields only: every error names the field (``where``)."""
    if not isinstance(body, dict):
        raise TypeError(f"{where} must be an object")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    unknown = set(body) - {f.name for f in fields}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    missing = [f.name for f in fields if f.name not in body and _required(f)]
    if missing:
        raise ValueError(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    args = {name: _convert(hints[name], value, name) for name, value in body.items()}
    return cls(**args)


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _convert(hint: Any, value: object, name: str) -> object:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [opt for opt in options if opt is not type(None)]
        return _convert(inner, value, name)
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError(f"{name} must be a list")
        item_hint = typing.get_args(hint)[0]
        return tuple(_convert(item_hint, item, f"{name}[{i}]") for i, item in enumerate(value))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _member(hint, value, name)
    if dataclasses.is_dataclass(hint):
        return _from_json(typing.cast(type, hint), value, name)
    return _scalar(hint, value, name)


def _member(enum_type: type[enum.Enum], value: object, name: str) -> enum.Enum:
    for member in enum_type:
        if isinstance(value, str) and member.value == value:
            return member
    allowed = ", ".join(str(m.value) for m in enum_type)
    raise ValueError(f"{name} must be one of {allowed}")


def _scalar(hint: type, value: object, name: str) -> object:
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise TypeError(f"{name} must be an integer")
    if not isinstance(value, hint):
        raise TypeError(f"{name} must be {hint.__name__}")
    return value
