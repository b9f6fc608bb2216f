"""The tables of critical results: one alert per critical finding (an ECG, a lab value), and
the people it was sent to (the sending clinic, the duty desk, those it escalated to).

Only storage shape lives here; the rules live in :mod:`consult.critical`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from consult.db import Base


class CriticalAlert(Base):
    """A critical finding that someone who acts on it must acknowledge: who, when, how."""

    __tablename__ = "critical_alert"
    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        Index("ix_critical_alert_open", "acknowledged_at", "raised_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    """What found it: ``ecg`` (a recording) or ``lab`` (a result)."""
    source_id: Mapped[int] = mapped_column(Integer)
    """The ECG recording's or the lab result's id."""
    code: Mapped[str] = mapped_column(String(64), default="")
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    """The clinic that sent the request (whose doctors must act)."""
    finding: Mapped[str] = mapped_column(String(300))
    finding_zh: Mapped[str] = mapped_column(String(300))
    raised_at: Mapped[dt.datetime]
    level: Mapped[int] = mapped_column(Integer, default=0)
    """0 raised; 1 escalated to the township's duty doctor; 2 to the center's duty desk."""
    escalated_at: Mapped[dt.datetime | None]
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    method: Mapped[str] = mapped_column(String(16), default="")
    """``in_app`` (seen in the application) or ``phone`` (phoned, ``notified_person`` spoken to)."""
    notified_person: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")


class CriticalRecipient(Base):
    """One person an alert was sent to, why, and at which escalation level."""

    __tablename__ = "critical_recipient"
    __table_args__ = (
        UniqueConstraint("alert_id", "user_id"),
        Index("ix_critical_recipient_user", "user_id", "alert_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("critical_alert.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    reason: Mapped[str] = mapped_column(String(16))
    """``clinic``, ``duty_desk``, ``supervisor``, ``township`` (escalation level 1)."""
    level: Mapped[int] = mapped_column(Integer, default=0)
    notified_at: Mapped[dt.datetime]
