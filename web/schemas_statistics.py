"""Query and response shapes of the statistics API: aggregates only, no patient field."""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from consult.vocab import RequestKind


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
