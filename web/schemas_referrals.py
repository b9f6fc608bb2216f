"""Shapes of the referral and capacity API."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from consult.vocab import Priority, ReferralStatus, SlotKind
from web.schemas import In, Out, PatientBrief


class ReferralIn(In):
    department: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=4000)
    summary: str = Field("", max_length=8000)
    urgency: Priority = Priority.URGENT
    request_id: int | None = None
    report_id: int | None = None
    patient_id: int | None = None


class AcceptIn(In):
    slot_id: int = Field(ge=1)


class ReferralQuery(In):
    status: ReferralStatus | None = None
    request_id: int | None = None
    open: bool = False


class ReferralOut(Out):
    id: int
    patient_id: int
    patient: PatientBrief
    request_id: int | None
    report_id: int | None
    from_institution_id: int
    to_department_id: int
    urgency: Priority
    reason: str
    summary: str
    status: ReferralStatus
    opened_by: int
    opened_at: dt.datetime
    accepted_by: int | None
    accepted_at: dt.datetime | None
    slot_id: int | None
    slot_at: dt.datetime | None
    slot_place: str
    arrived_at: dt.datetime | None
    closed_at: dt.datetime | None
    cancelled_reason: str
    back_referral_summary: str
    back_referred_at: dt.datetime | None


class SlotIn(In):
    """A slot to publish; a time without a zone is the center's local time."""

    department: str = Field(min_length=1, max_length=32)
    kind: SlotKind
    place: str = Field(min_length=1, max_length=200)
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int = Field(ge=1, le=500)


class SlotQuery(In):
    department: str = Field("", max_length=32)
    available: bool = False


class SlotOut(Out):
    id: int
    department_id: int
    kind: SlotKind
    place: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    booked: int
    published_at: dt.datetime


class CapacityOut(Out):
    timezone: str
    """The center's local time zone: show and publish the slots' times in it."""
    slots: list[SlotOut]
