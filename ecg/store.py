"""The ECG center's table: one row per received recording, with its analysis."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from consult.db import Base, utcnow


class EcgRecording(Base):
    """A received ECG: the original file (by content digest), what it holds, the machine read."""

    __tablename__ = "ecg_recording"
    __table_args__ = (UniqueConstraint("patient_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(32), default="upload")
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255), default="")
    format: Mapped[str] = mapped_column(String(32))
    csv_profile: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    size: Mapped[int] = mapped_column(Integer)
    fs: Mapped[float] = mapped_column(Float)
    leads: Mapped[list[Any]] = mapped_column(default=list)
    duration_s: Mapped[float] = mapped_column(Float)
    analysis: Mapped[dict[str, Any]] = mapped_column(default=dict)
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    analysis_ms: Mapped[float] = mapped_column(Float, default=0.0)


# -- long ECG reading (wt-longecg) --
class EcgView(Base):
    """What a reader has fetched of a recording's tracing: a window, the whole, the overview.

    The sign check (:func:`ecg.reading.require_seen`) reads these rows: a report is not signed on
    a tracing its signer never looked at.
    """

    __tablename__ = "ecg_view"

    id: Mapped[int] = mapped_column(primary_key=True)
    ecg_id: Mapped[int] = mapped_column(ForeignKey("ecg_recording.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(16))
    start_s: Mapped[float] = mapped_column(Float, default=0.0)
    end_s: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
