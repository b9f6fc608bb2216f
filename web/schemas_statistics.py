"""Query and response shapes of the statistics API: aggregates only, no patient field."""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from consult.quality_tables import Discrepancy, SecondReadingStatus
from consult.vocab import Priority, RequestKind


class StatisticsQuery(BaseModel):
    """The period ``[since, until)`` (default: the 30 days up to now) and the institution."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    institution_id: int | None = Field(None, ge=1)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class VolumeOut(_Out):
    institution_id: int
    kind: RequestKind
    requests: int
    completed: int
    cancelled: int
    open: int
    overdue: int


class TurnaroundOut(_Out):
    kind: RequestKind
    priority: str
    completed: int
    median_minutes: float | None
    p90_minutes: float | None
    within_deadline: int
    within_deadline_share: float | None


class CriticalOut(_Out):
    raised: int
    acknowledged: int
    median_ack_minutes: float | None
    p90_ack_minutes: float | None


class ReferralsOut(_Out):
    up: int
    closed: int
    cancelled: int
    open: int
    down: int
    completion_share: float | None


class PositivesOut(_Out):
    institution_id: int
    kind: RequestKind
    reported: int
    positive: int
    negative: int
    positive_share: float | None


class WorkloadOut(_Out):
    user_id: int
    name: str
    kind: RequestKind
    signed: int
    amended: int
    median_minutes: float | None


class StatisticsOut(_Out):
    since: dt.datetime
    until: dt.datetime
    institution_id: int | None
    institution_ids: list[int]
    volumes: list[VolumeOut]
    turnaround: list[TurnaroundOut]
    critical: CriticalOut
    referrals: ReferralsOut
    consults_requested: int
    consults_completed: int
    consult_median_minutes: float | None
    consult_p90_minutes: float | None
    positives: list[PositivesOut]
    workload: list[WorkloadOut]


class QualityQuery(BaseModel):
    """The period ``[since, until)`` of the verdicts (default: the 30 days up to now)."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class ReaderQualityOut(_Out):
    reader_id: int
    reader_name: str
    second_readings: int
    minor: int
    major: int
    discrepancy_rate: float | None


class QualityOut(BaseModel):
    since: dt.datetime
    until: dt.datetime
    readers: list[ReaderQualityOut]


class SecondReadingIn(BaseModel):
    """The second reader's verdict; a major discrepancy carries the corrected text."""

    model_config = ConfigDict(extra="forbid")

    discrepancy: Discrepancy
    note: str = Field("", max_length=2000)
    findings: str = Field("", max_length=20000)
    impression: str = Field("", max_length=20000)


class SecondReadingOut(_Out):
    id: int
    request_id: int
    report_id: int
    kind: RequestKind
    priority: Priority
    required: bool
    sample_bucket: int
    status: SecondReadingStatus
    first_reader_id: int
    signed_at: dt.datetime
    second_reader_id: int | None
    discrepancy: Discrepancy | None
    note: str
    decided_at: dt.datetime | None
    amended_report_id: int | None
