"""The lab center's tables: catalogue, reference ranges, orders, specimens, results and the
outbox of order messages for the LIS (critical values are alerts of :mod:`consult.critical`).

Only storage shape lives here; the rules live in the service modules beside it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Enum, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consult.db import Base, utcnow
from consult.models import DiagnosticRequest
from lab.vocab import OrderStatus, ResultStatus, SpecimenStatus


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class LabTest(Base):
    """A catalogue entry: one test (an observation) or a panel of tests, coded in LOINC."""

    __tablename__ = "lab_test"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    system: Mapped[str] = mapped_column(String(16), default="LN")
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32), default="")
    specimen_type: Mapped[str] = mapped_column(String(32), default="")
    components: Mapped[list[Any]] = mapped_column(default=list)
    """For a panel: the codes of its tests, in report order; empty for a single test."""
    decimals: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def is_panel(self) -> bool:
        return bool(self.components)


class LabRange(Base):
    """Reference limits of a test for a sex and an age band, in three tiers.

    ``low/high`` bound the normal range, ``critical_*`` the values that must be phoned through,
    ``plausible_*`` what a living patient can have (outside: an error to review). A ``None``
    limit is open.
    """

    __tablename__ = "lab_range"
    __table_args__ = (Index("ix_lab_range_code", "test_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    test_code: Mapped[str] = mapped_column(String(32))
    sex: Mapped[str] = mapped_column(String(1), default="")
    """``M`` or ``F``, or empty for either."""
    age_min_years: Mapped[float] = mapped_column(Float, default=0.0)
    age_max_years: Mapped[float | None] = mapped_column(Float)
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)
    critical_low: Mapped[float | None] = mapped_column(Float)
    critical_high: Mapped[float | None] = mapped_column(Float)
    plausible_low: Mapped[float | None] = mapped_column(Float)
    plausible_high: Mapped[float | None] = mapped_column(Float)


class LabOrder(Base):
    """The lab side of a lab-test request: its order numbers and the tests asked for."""

    __tablename__ = "lab_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    placer_number: Mapped[str] = mapped_column(String(22), unique=True)
    filler_number: Mapped[str | None] = mapped_column(String(22), unique=True)
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus))
    test_codes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    request: Mapped[DiagnosticRequest] = relationship(lazy="joined")


class Specimen(Base):
    """A tube or container: collected at the clinic, shipped, received (or rejected) at the lab."""

    __tablename__ = "lab_specimen"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("lab_order.id"), index=True)
    label: Mapped[str] = mapped_column(String(32), unique=True)
    specimen_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[SpecimenStatus] = mapped_column(_enum(SpecimenStatus))
    collected_at: Mapped[dt.datetime | None]
    collected_by: Mapped[str] = mapped_column(String(200), default="")
    collected_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    shipped_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime | None]
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    rejected_at: Mapped[dt.datetime | None]
    rejection_reason: Mapped[str] = mapped_column(String(32), default="")
    note: Mapped[str] = mapped_column(Text, default="")


class LabResult(Base):
    """One observation value. Never edited once released: a correction is a new row that
    supersedes it (``supersedes_id``), and the earlier row keeps its value."""

    __tablename__ = "lab_result"
    __table_args__ = (Index("ix_lab_result_trend", "patient_id", "test_code", "observed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("lab_order.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    test_code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[str] = mapped_column(String(200))
    numeric: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32), default="")
    flag: Mapped[str] = mapped_column(String(2), default="")
    """Abnormal flag, HL7 table 0078: L, H, LL, HH, N (normal) or empty (no range)."""
    range_text: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[ResultStatus] = mapped_column(_enum(ResultStatus))
    hold_reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(64), default="api")
    observed_at: Mapped[dt.datetime]
    entered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    released_at: Mapped[dt.datetime | None]
    released_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("lab_result.id"))
    amendment_reason: Mapped[str] = mapped_column(Text, default="")


class LisOutbound(Base):
    """An order message waiting for (or delivered to) the LIS."""

    __tablename__ = "lab_lis_outbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("lab_order.id"), index=True)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


class HisOutbound(Base):
    """A signed report's message (ORU^R01 or MDM) waiting for, or delivered to, the HIS of the
    clinic that asked for it; written in the signing's transaction (:mod:`lab.his`)."""

    __tablename__ = "lab_his_outbound"
    __table_args__ = (Index("ix_lab_his_outbound_due", "sent_at", "stopped_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"), index=True)
    message_type: Mapped[str] = mapped_column(String(16))
    """MSH-9 without the structure: ``ORU^R01``, ``MDM^T02``, ``MDM^T10``."""
    control_id: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[dt.datetime | None]
    """When the HIS accepted it (MSA-1 AA or CA)."""
    stopped_at: Mapped[dt.datetime | None]
    """When the outbox gave up (an AE, or the attempts used up): a person looks at it."""
    ack_code: Mapped[str] = mapped_column(String(2), default="")
    """MSA-1 of the last ACK (empty: none received yet)."""
    ack_text: Mapped[str] = mapped_column(Text, default="")
    """MSA-3 of the last ACK."""
    last_error: Mapped[str] = mapped_column(Text, default="")
