"""Consult rooms, on the domain side: who may enter a video consult, guest invitations, and the
record of what happened in the room (kept on the consult request and in the audit log).

The media and signaling live in ``signaling/``; this module knows nothing of WebRTC.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from consult.access import has_access_grant, readable_request, request_clause
from consult.center import Work
from consult.db import Base, utcnow
from consult.errors import Conflict, Forbidden, InvalidInput
from consult.models import DiagnosticRequest, User
from consult.principal import Principal, principal_for
from consult.vocab import ConsentScope, RequestKind, RequestStatus

INVITATION_TTL = dt.timedelta(hours=2)
GUEST_PREFIX = "guest:"


class RoomRole(enum.Enum):
    """Mirrors the signaling protocol's roles."""

    HOST = "host"  # the requesting doctor
    MEMBER = "member"  # the assigned specialist
    GUEST = "guest"  # anyone else: waits in the lobby


MEMBER_ROLES = frozenset({RoomRole.HOST, RoomRole.MEMBER})
"""The roles that make a participant a member of the room (co-view grants reach them)."""


class RoomInvitation(Base):
    """A one-time, expiring link for a patient (or family) to join a consult from home."""

    __tablename__ = "room_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    guest_name: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class RoomRecording(Base):
    """A consult recording (with the patient's consent), attached to the consult request."""

    __tablename__ = "room_recording"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    media_type: Mapped[str] = mapped_column(String(64), default="video/webm")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Invitation:
    token: str
    expires_at: dt.datetime
    row: RoomInvitation


@dataclass(frozen=True)
class Guest:
    """An invitation holder: ``user_id`` is ``guest:<invitation id>``."""

    invitation_id: int
    request_id: int
    name: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def consult_request(work: Work, request_id: int, action: str) -> DiagnosticRequest:
    request = await readable_request(work, request_id, action)
    if request.kind is not RequestKind.VIDEO_CONSULT:
        raise InvalidInput("rooms belong to video-consult requests", field="request_id")
    return request


async def invite(work: Work, request_id: int, guest_name: str) -> Invitation:
    """The requesting clinic or the specialist invites the patient (one-time, expiring link)."""
    request = await consult_request(work, request_id, "room.invite")
    if not request.status.is_open:
        raise Conflict(f"request {request.identifier} is {request.status}")
    if not guest_name.strip():
        raise InvalidInput("the guest needs a name", field="guest_name")
    token = secrets.token_urlsafe(24)
    row = RoomInvitation(
        request_id=request.id,
        digest=_digest(token),
        guest_name=guest_name.strip()[:100],
        created_by=work.principal.user_id,
        created_at=work.now,
        expires_at=work.now + INVITATION_TTL,
    )
    work.session.add(row)
    await work.session.flush()
    work.audit(
        "room.invite",
        patient_id=request.patient_id,
        obj=("request", request.id),
        guest=row.guest_name,
    )
    return Invitation(token=token, expires_at=row.expires_at, row=row)


async def redeem(work: Work, token: str) -> Guest | None:
    """Use an invitation (once); None if unknown, expired or already used."""
    row = await work.session.scalar(
        select(RoomInvitation).where(RoomInvitation.digest == _digest(token))
    )
    if row is None or row.used_at is not None or row.expires_at <= work.now:
        return None
    claimed = await work.session.execute(
        update(RoomInvitation)
        .where(RoomInvitation.id == row.id, RoomInvitation.used_at.is_(None))
        .values(used_at=work.now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    work.audit("room.guest", obj=("request", row.request_id), guest=row.guest_name)
    return Guest(invitation_id=row.id, request_id=row.request_id, name=row.guest_name)


def guest_role(guest: Guest, request_id: int) -> RoomRole | None:
    return RoomRole.GUEST if guest.request_id == request_id else None


async def role_of(work: Work, principal: Principal, request_id: int) -> RoomRole | None:
    """The role of a signed-in user in the room of ``request_id``, or None (may not enter)."""
    request = await work.session.scalar(
        select(DiagnosticRequest).where(
            DiagnosticRequest.id == request_id, request_clause(principal)
        )
    )
    if request is None or request.kind is not RequestKind.VIDEO_CONSULT:
        return None
    if not request.status.is_open:  # requested, accepted, in progress or on hold
        return None
    if principal.kinds and not await has_access_grant(work, request.patient_id):
        return None
    if request.requester_id == principal.user_id:
        return RoomRole.HOST
    if request.performer_id == principal.user_id:
        return RoomRole.MEMBER
    if request.performer_id is None and principal.kinds:
        return RoomRole.MEMBER  # a specialist who takes the consult by joining it
    return RoomRole.GUEST


async def admission_role(
    work: Work, request_id: int, *, user_id: int | None = None, invitation_id: int | None = None
) -> RoomRole | None:
    """Who enters the room of ``request_id``: an active user by :func:`role_of`, or the holder
    of an invitation to this very room as a guest; None: may not enter."""
    if invitation_id is not None:
        row = await work.session.get(RoomInvitation, invitation_id)
        return RoomRole.GUEST if row is not None and row.request_id == request_id else None
    if user_id is None:
        return None
    user = await work.session.scalar(select(User).where(User.id == user_id, User.active.is_(True)))
    if user is None:
        return None
    return await role_of(work, await principal_for(work.session, user), request_id)


async def active_principal(work: Work, user_id: int) -> Principal | None:
    """The principal of an active user (a room participant), or None."""
    user = await work.session.scalar(select(User).where(User.id == user_id, User.active.is_(True)))
    return await principal_for(work.session, user) if user is not None else None


async def recording_allowed(work: Work, request_id: int) -> bool:
    """The patient's consent for recording is on file and active."""
    request = await work.session.get(DiagnosticRequest, request_id)
    if request is None:
        return False
    from consult.consent import active_scopes

    return ConsentScope.RECORDING in await active_scopes(work, request.patient_id)


async def record_event(work: Work, request_id: int, event: str, **detail: Any) -> None:
    """Keep a room event on the consult request (its ``details.room_log``) and in the audit log."""
    request = await work.session.get(DiagnosticRequest, request_id)
    if request is None:
        return
    entry = {"at": work.now.isoformat(), "event": event, **detail}
    log = [*request.details.get("room_log", []), entry][-200:]
    request.details = {**request.details, "room_log": log}
    if event == "end":
        from consult.coview import close_room

        await close_room(work, request.id)
    if event == "start" and request.status is RequestStatus.ACCEPTED:
        from consult.requests import set_status

        set_status(request, RequestStatus.IN_PROGRESS, work.now)
    work.audit(
        f"room.{event}", patient_id=request.patient_id, obj=("request", request.id), **detail
    )


async def attach_recording(work: Work, request_id: int, sha256: str, size: int) -> RoomRecording:
    row = RoomRecording(request_id=request_id, sha256=sha256, size=size, created_at=work.now)
    work.session.add(row)
    await work.session.flush()
    await record_event(work, request_id, "recording", recording_id=row.id, size=size)
    return row


def require_clinic_or_specialist(principal: Principal) -> None:
    if not (principal.is_clinic or principal.kinds):
        raise Forbidden("only the consult's doctors invite guests")
