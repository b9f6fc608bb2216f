"""The table of second readings: the sampling decision taken when a report is signed, and the
second reader's verdict. Only storage shape lives here; the rules live in
:mod:`consult.second_reading`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from consult.db import Base
from consult.models import Report


class SecondReadingStatus(StrEnum):
    NOT_REQUIRED = "not_required"
    """Recorded when signed: not sampled, released at once."""
    PENDING = "pending"
    """Waiting for a second reader; the report is not released."""
    DONE = "done"


class Discrepancy(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class SecondReading(Base):
    """One signed first report of a request of a kind with a second-reading rule."""

    __tablename__ = "second_reading"
    __table_args__ = (Index("ix_second_reading_status", "status", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column(Boolean)
    sample_bucket: Mapped[int] = mapped_column(Integer)
    """0..9999 from the request's identifier; sampled when below the kind's percentage."""
    status: Mapped[SecondReadingStatus] = mapped_column(_enum(SecondReadingStatus))
    first_reader_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    signed_at: Mapped[dt.datetime]
    second_reader_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    discrepancy: Mapped[Discrepancy | None] = mapped_column(_enum(Discrepancy))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    amended_report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"))
    """A major discrepancy: the version the second reader signed instead."""


def unreleased() -> ColumnElement[bool]:
    """Reports held back from the clinic: their second reading is still pending."""
    return Report.id.in_(
        select(SecondReading.report_id).where(SecondReading.status == SecondReadingStatus.PENDING)
    )
