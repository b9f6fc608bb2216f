"""Request and response bodies of the critical-alert API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from consult.vocab import AckMethod


class AlertQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open: bool = False
    request_id: int | None = Field(None, ge=1)
    source: str | None = Field(None, pattern=r"^(ecg|lab)$")


class AlertAckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)

    method: AckMethod
    notified_person: str = Field("", max_length=200)
    """For ``phone``: the person spoken to (required)."""
    note: str = Field("", max_length=2000)


class CriticalAlertOut(BaseModel):
    """A critical alert: the finding (both languages), the patient, the sending clinic and its
    phone, the escalation level, and who acknowledged it, when and how."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    source_id: int
    code: str
    request_id: int
    request_identifier: str
    patient_id: int
    patient_name: str
    patient_sex: str
    patient_birth_date: dt.date | None
    patient_phone: str
    clinic_id: int
    clinic_name: str
    clinic_name_en: str
    clinic_phone: str
    finding: str
    finding_zh: str
    raised_at: dt.datetime
    level: int
    escalated_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: int | None
    acknowledged_by_name: str
    method: str
    notified_person: str
    note: str
