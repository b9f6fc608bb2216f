"""Capacity a county department publishes (cath lab, ward beds, clinic sessions), and bookings.

A slot is a place for a time with a count. Accepting a referral books one place with a single
conditional ``UPDATE ... SET booked = booked + 1 WHERE booked < capacity``: on PostgreSQL the
second of two concurrent bookings waits for the first's row lock and then finds the slot full; on
SQLite writers are serialised. A check constraint (``booked <= capacity``) backs the rule in the
database itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update

from consult.center import Work
from consult.errors import Conflict, Forbidden, InvalidInput, NotFound
from consult.institutions import county_department
from consult.models import CapacitySlot, Department
from consult.vocab import Role, SlotKind

logger = logging.getLogger(__name__)

MAX_CAPACITY = 500
MAX_SPAN = dt.timedelta(days=31)
HORIZON = dt.timedelta(days=366)


class CapacityConflict(Conflict):
    """A conflict about capacity or referrals, with a Chinese message and details for the client."""

    def __init__(self, message: str, message_zh: str, *, code: str, **details: Any) -> None:
        super().__init__(message, code=code)
        self.details: dict[str, Any] = {"message_zh": message_zh, **details}


@dataclass(frozen=True)
class NewSlot:
    department: str
    kind: SlotKind
    place: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int


def zone(work: Work) -> zoneinfo.ZoneInfo:
    """The center's local time zone."""
    return zoneinfo.ZoneInfo(work.policy.timezone)


def localize(work: Work, when: dt.datetime) -> dt.datetime:
    """A time in UTC; a time given without a zone is the center's local time."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=zone(work))
    return aware.astimezone(dt.UTC)


def local_label(work: Work, when: dt.datetime) -> tuple[str, str]:
    """``when`` for people, in the center's zone: (Chinese, English)."""
    local = when.astimezone(zone(work))
    return f"{local.month}月{local.day}日 {local:%H:%M}", f"{local:%d %b %H:%M}"


def _may_manage(work: Work, department: Department) -> bool:
    p = work.principal
    if p.role in (Role.ADMIN, Role.REFERRAL_DESK):
        return True
    return p.role is Role.DEPARTMENT_DESK and p.department_id == department.id


async def publish(work: Work, data: NewSlot) -> CapacitySlot:
    """Publish capacity of a county department (its desk, the referral desk or the admin)."""
    department = await county_department(work, data.department)
    if not _may_manage(work, department):
        work.deny("capacity.publish", obj=("department", department.id))
        raise Forbidden("a department publishes its own capacity")
    place = data.place.strip()
    if not place:
        raise InvalidInput("a slot needs a place", field="place")
    starts_at, ends_at = localize(work, data.starts_at), localize(work, data.ends_at)
    if ends_at <= starts_at:
        raise InvalidInput("a slot ends after it starts", field="ends_at")
    if ends_at - starts_at > MAX_SPAN:
        raise InvalidInput("a slot spans at most 31 days", field="ends_at")
    if ends_at <= work.now:
        raise InvalidInput("a slot is published for the future", field="ends_at")
    if starts_at > work.now + HORIZON:
        raise InvalidInput("a slot starts within a year", field="starts_at")
    if not 1 <= data.capacity <= MAX_CAPACITY:
        raise InvalidInput(f"capacity is 1 to {MAX_CAPACITY}", field="capacity")
    slot = CapacitySlot(
        department_id=department.id,
        kind=data.kind,
        place=place,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=data.capacity,
        booked=0,
        published_by=work.principal.user_id or None,
        published_at=work.now,
    )
    work.session.add(slot)
    await work.session.flush()
    work.audit(
        "capacity.publish",
        obj=("capacity_slot", slot.id),
        department=department.code,
        capacity=data.capacity,
    )
    return slot


async def list_slots(
    work: Work,
    *,
    department: str | None = None,
    available: bool = False,
    include_past: bool = False,
) -> list[CapacitySlot]:
    """Published slots (county staff); current and future ones unless ``include_past``."""
    if work.principal.is_clinic or not (
        work.principal.role in (Role.ADMIN, Role.REFERRAL_DESK, Role.DEPARTMENT_DESK)
        or work.principal.kinds
    ):
        raise Forbidden("capacity is seen by county staff")
    query = select(CapacitySlot)
    if department:
        dep = await county_department(work, department)
        query = query.where(CapacitySlot.department_id == dep.id)
    if not include_past:
        query = query.where(CapacitySlot.ends_at > work.now)
    if available:
        query = query.where(CapacitySlot.booked < CapacitySlot.capacity)
    query = query.order_by(CapacitySlot.starts_at, CapacitySlot.id).limit(500)
    return list(await work.session.scalars(query))


async def withdraw(work: Work, slot_id: int) -> None:
    """Withdraw a slot nobody has booked."""
    slot = await work.session.get(CapacitySlot, slot_id)
    if slot is None:
        raise NotFound(f"no capacity slot {slot_id}")
    department = await work.session.get(Department, slot.department_id)
    if department is None or not _may_manage(work, department):
        work.deny("capacity.withdraw", obj=("capacity_slot", slot_id))
        raise Forbidden("a department withdraws its own capacity")
    result = await work.session.execute(
        delete(CapacitySlot)
        .where(CapacitySlot.id == slot_id, CapacitySlot.booked == 0)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise CapacityConflict(
            f"capacity slot {slot_id} has bookings; cancel them first",
            f"时段 {slot_id} 已有预约, 请先取消转诊",
            code="slot_booked",
            slot_id=slot_id,
        )
    work.audit("capacity.withdraw", obj=("capacity_slot", slot_id))


async def book(work: Work, slot_id: int, department_id: int) -> CapacitySlot:
    """Book one place of ``slot_id`` (a slot of ``department_id`` that has not ended)."""
    slot = await work.session.get(CapacitySlot, slot_id)
    if slot is None or slot.department_id != department_id:
        raise InvalidInput(
            f"no capacity slot {slot_id} of the receiving department", field="slot_id"
        )
    if slot.ends_at <= work.now:
        raise InvalidInput("the slot has ended", field="slot_id")
    result = await work.session.execute(
        update(CapacitySlot)
        .where(CapacitySlot.id == slot_id, CapacitySlot.booked < CapacitySlot.capacity)
        .values(booked=CapacitySlot.booked + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise CapacityConflict(
            f"capacity slot {slot_id} is full",
            f"该时段已满 (时段 {slot_id}), 请选择其他时段",
            code="slot_full",
            slot_id=slot_id,
        )
    await work.session.refresh(slot)
    work.audit("capacity.book", obj=("capacity_slot", slot_id), booked=slot.booked)
    return slot


async def release(work: Work, slot_id: int) -> None:
    """Give back one booked place (a cancelled referral)."""
    await work.session.execute(
        update(CapacitySlot)
        .where(CapacitySlot.id == slot_id, CapacitySlot.booked > 0)
        .values(booked=CapacitySlot.booked - 1)
        .execution_options(synchronize_session=False)
    )
    work.audit("capacity.release", obj=("capacity_slot", slot_id))
