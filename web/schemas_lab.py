"""The JSON shapes of the lab API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from consult.vocab import Priority, RequestStatus
from lab.vocab import AckMethod, OrderStatus, RejectionReason, ResultStatus, SpecimenStatus
from web.schemas import ShownJson


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=20000)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RangeIO(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    sex: str = Field("", pattern=r"^[MF]?$")
    age_min_years: float = Field(0.0, ge=0, le=150)
    age_max_years: float | None = Field(None, gt=0, le=200)
    low: float | None = None
    high: float | None = None
    critical_low: float | None = None
    critical_high: float | None = None
    plausible_low: float | None = None
    plausible_high: float | None = None


class LabTestOut(Out):
    code: str
    system: str
    name: str
    name_en: str
    unit: str
    specimen_type: str
    components: list[str]
    decimals: int
    active: bool


class LabTestDetailOut(LabTestOut):
    ranges: list[RangeIO]


class LabTestIn(In):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    system: str = Field("LN", max_length=16)
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    unit: str = Field("", max_length=32)
    specimen_type: str = Field("", max_length=32)
    components: list[str] = Field(default_factory=list, max_length=100)
    decimals: int = Field(1, ge=0, le=6)
    active: bool = True
    ranges: list[RangeIO] | None = None


class OrderIn(In):
    patient_id: int
    tests: list[str] = Field(min_length=1, max_length=50)
    priority: Priority = Priority.ROUTINE
    clinical_question: str = Field("", max_length=2000)


class OrderQuery(In):
    patient_id: int | None = None
    open: bool = False
    limit: int = Field(200, ge=1, le=500)


class SpecimenOut(Out):
    id: int
    order_id: int
    label: str
    specimen_type: str
    status: SpecimenStatus
    collected_at: dt.datetime | None
    collected_by: str
    shipped_at: dt.datetime | None
    received_at: dt.datetime | None
    rejected_at: dt.datetime | None
    rejection_reason: str
    note: str


class OrderOut(BaseModel):
    id: int
    request_id: int
    request_identifier: str
    request_status: RequestStatus
    priority: Priority
    patient_id: int
    placer_number: str
    filler_number: str | None
    status: OrderStatus
    tests: list[str]
    critical: bool
    created_at: dt.datetime
    specimens: list[SpecimenOut]


class SpecimenAddIn(In):
    specimen_type: str = Field(min_length=1, max_length=32)


class CollectIn(In):
    collected_at: AwareDatetime | None = None
    collected_by: str = Field("", max_length=200)


class SpecimenRejectIn(In):
    reason: RejectionReason
    note: str = Field("", max_length=2000)


class ObservationIn(In):
    code: str = Field(min_length=1, max_length=32)
    value: str = Field(min_length=1, max_length=200)
    unit: str = Field("", max_length=32)
    observed_at: AwareDatetime | None = None


class ResultsIn(In):
    results: list[ObservationIn] = Field(min_length=1, max_length=200)


class AmendmentIn(In):
    code: str = Field(min_length=1, max_length=32)
    value: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)


class DiscardIn(In):
    reason: str = Field(min_length=1, max_length=2000)


class ResultOut(Out):
    id: int
    order_id: int
    test_code: str
    name: str
    value: str
    numeric: float | None
    unit: str
    flag: str
    range_text: str
    status: ResultStatus
    hold_reason: str
    source: str
    observed_at: dt.datetime
    entered_at: dt.datetime
    entered_by: int | None
    released_at: dt.datetime | None
    released_by: int | None
    supersedes_id: int | None
    amendment_reason: str


class RefusedOut(BaseModel):
    code: str
    value: str
    reason: str
    reason_code: str = ""
    """Why, as a stable code the pages translate (``not_numeric``, ``wrong_unit``, ...)."""


class StoreOut(BaseModel):
    stored: list[ResultOut]
    held: list[ResultOut]
    refused: list[RefusedOut]
    critical: int


class TrendQuery(In):
    code: str = Field(min_length=1, max_length=32)
    limit: int = Field(100, ge=1, le=1000)


class AlertQuery(In):
    open: bool = False
    request_id: int | None = None


class AlertOut(Out):
    id: int
    result_id: int
    request_id: int
    patient_id: int
    summary: str
    raised_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: int | None
    method: str
    notified_person: str
    note: str
    escalated_at: dt.datetime | None


class AckIn(In):
    method: AckMethod
    notified_person: str = Field("", max_length=200)
    note: str = Field("", max_length=2000)


class ReleaseOut(BaseModel):
    report_id: int
    report_version: int
    report_status: str
    data: ShownJson


class HisEndpointIn(In):
    """Where a clinic's HIS takes results over MLLP (empty host and port 0: send nothing)."""

    host: str = Field("", max_length=253)
    port: int = Field(0, ge=0, le=65535)


class HisEndpointOut(Out):
    institution_id: int
    host: str
    port: int
    waiting: int
    stopped: int


class HisOutboxQuery(In):
    institution_id: int | None = Field(None, ge=1, le=2**31 - 1)
    state: Literal["waiting", "stopped", "sent"] | None = None
    limit: int = Field(100, ge=1, le=500)


class HisOutboxOut(Out):
    """One message of the HIS outbox (without its text: it holds the patient's report)."""

    id: int
    institution_id: int
    report_id: int
    message_type: str
    control_id: str
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    attempts: int
    sent_at: dt.datetime | None
    stopped_at: dt.datetime | None
    ack_code: str
    ack_text: str
    last_error: str
