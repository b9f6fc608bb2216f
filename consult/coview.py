"""Co-viewing grants: what a participant shares in a consult room becomes readable by the room's
members (the requesting doctor, the consult specialist) while the room is open.

A share is recorded when someone who may read the item themselves opens it for the room (the
item must be of the consult's patient); it ends when the room ends (and, for safety, when the
server starts: rooms do not outlive the process). A member's read through a grant is audited
like any other read, with ``via`` naming the room. Items are named by a kind and a key: an ECG
(``ecg``, its id) or an image series (``series``, its UID; the grant opens the series' study).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from sqlalchemy import ForeignKey, Index, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from consult.center import Work
from consult.db import Base, utcnow
from consult.principal import Principal

logger = logging.getLogger(__name__)

ECG, SERIES = "ecg", "series"
_ECG = re.compile(r"^ecg/(\d{1,12})$")
_SERIES = re.compile(r"^study/([0-9.]{1,64})/series/([0-9.]{1,64})$")


class RoomShare(Base):
    """An item shared in the room of a video-consult request."""

    __tablename__ = "room_share"
    __table_args__ = (Index("ix_room_share_item", "kind", "item_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), index=True)
    """The video-consult request whose room it was shared in."""
    kind: Mapped[str] = mapped_column(String(16))
    item_key: Mapped[str] = mapped_column(String(64))
    study_uid: Mapped[str] = mapped_column(String(64), default="")
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    shared_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]


@dataclass(frozen=True)
class Item:
    """A shareable item named by a co-view resource."""

    kind: str
    key: str
    study_uid: str = ""


def parse_resource(resource: str) -> Item | None:
    """``ecg/<id>`` or ``study/<uid>/series/<uid>`` (what the room page shares); else None."""
    if m := _ECG.match(resource):
        return Item(ECG, m.group(1))
    if m := _SERIES.match(resource):
        return Item(SERIES, m.group(2), m.group(1))
    return None


async def grant(
    work: Work, request_id: int, item: Item, patient_id: int, sharer: Principal
) -> RoomShare:
    """Record that ``sharer`` shared ``item`` (of ``patient_id``) in the room of ``request_id``
    (the caller checked that the sharer may read it and that it is the consult's patient)."""
    existing = await work.session.scalar(
        select(RoomShare).where(
            RoomShare.request_id == request_id,
            RoomShare.kind == item.kind,
            RoomShare.item_key == item.key,
            RoomShare.closed_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    row = RoomShare(
        request_id=request_id,
        kind=item.kind,
        item_key=item.key,
        study_uid=item.study_uid,
        patient_id=patient_id,
        shared_by=sharer.user_id,
        opened_at=work.now,
    )
    work.session.add(row)
    await work.session.flush()
    work.audit(
        "room.share",
        patient_id=patient_id,
        obj=("request", request_id),
        item=f"{item.kind}:{item.key}",
        by=sharer.username,
    )
    return row


async def close_room(work: Work, request_id: int) -> int:
    """The room ended: its grants end (audited); returns how many."""
    result = await work.session.execute(
        update(RoomShare)
        .where(RoomShare.request_id == request_id, RoomShare.closed_at.is_(None))
        .values(closed_at=work.now)
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        work.audit("room.share.end", obj=("request", request_id), count=count)
    return count


async def close_all(work: Work) -> int:
    """At start-up: no room is open, so no grant is."""
    result = await work.session.execute(
        update(RoomShare).where(RoomShare.closed_at.is_(None)).values(closed_at=work.now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def rooms_sharing(work: Work, kind: str, key: str) -> list[RoomShare]:
    """The open shares of an item."""
    rows = await work.session.scalars(
        select(RoomShare).where(
            RoomShare.kind == kind, RoomShare.item_key == key, RoomShare.closed_at.is_(None)
        )
    )
    return list(rows)


async def shared_with(work: Work, kind: str, key: str) -> RoomShare | None:
    """The open share through which the caller, a member of that room, may read the item."""
    from consult.rooms import MEMBER_ROLES, role_of

    for share in await rooms_sharing(work, kind, key):
        if await role_of(work, work.principal, share.request_id) in MEMBER_ROLES:
            return share
    return None


async def shared_studies(work: Work) -> list[str]:
    """Study UIDs of the series shared in open rooms the caller is a member of."""
    from consult.rooms import MEMBER_ROLES, role_of

    rows = await work.session.scalars(
        select(RoomShare).where(RoomShare.kind == SERIES, RoomShare.closed_at.is_(None))
    )
    uids = []
    for share in rows:
        if await role_of(work, work.principal, share.request_id) in MEMBER_ROLES:
            uids.append(share.study_uid)
    return uids
