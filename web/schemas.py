"""The JSON shapes of the API: inputs (strict, unknown fields refused) and outputs."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from consult import jsonguard
from consult.vocab import (
    ConsentScope,
    InstitutionLevel,
    Outcome,
    Priority,
    ReportStatus,
    RequestKind,
    RequestStatus,
    Role,
    Sex,
)

logger = logging.getLogger(__name__)

OMITTED = {"_omitted": "stored value could not be shown"}


def _shown(value: Any) -> Any:
    """A stored free field as answered: one that cannot be encoded is replaced, and logged."""
    if jsonguard.showable(value):
        return value
    logger.warning("a stored free JSON field could not be shown; answered without it")
    return dict(OMITTED)


ShownJson = Annotated[dict[str, Any], BeforeValidator(_shown)]
"""A free JSON field read from the database: never lets one old row break a list."""


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=20000)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- auth, people, institutions -------------------------------------------------------------


class LoginIn(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserOut(Out):
    id: int
    username: str
    display_name: str
    role: Role
    institution_id: int
    department_id: int | None
    active: bool
    department_head: bool = False  # -- consult: one owner --


class MeOut(UserOut):
    institution_name: str
    institution_name_en: str
    institution_level: InstitutionLevel
    timezone: str = "Asia/Shanghai"
    """The center's time zone: every time shown to people is local time there."""


class LoginOut(BaseModel):
    token: str
    expires_at: dt.datetime
    user: MeOut
    csrf_token: str = ""
    """For cookie sessions: send it back as ``X-CSRF-Token`` on requests that change state."""


class DepartmentOut(Out):
    id: int
    code: str
    name: str
    name_en: str


class InstitutionOut(Out):
    id: int
    code: str
    name: str
    name_en: str
    level: InstitutionLevel
    parent_id: int | None
    departments: list[DepartmentOut]
    phone: str = ""  # -- critical alerts: the number alerts show --


class InstitutionIn(In):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field("", max_length=200)
    level: InstitutionLevel
    parent_id: int | None = None
    phone: str = Field("", max_length=32, pattern=r"^[0-9+()\- ]*$")  # -- critical alerts --


class DepartmentIn(In):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field("", max_length=200)


class UserIn(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    display_name: str = Field("", max_length=200)
    role: Role
    institution_id: int
    department: str | None = None


class UserPatch(In):
    active: bool


class PasswordIn(In):
    password: str = Field(min_length=8, max_length=256)


# --- patients and consent -------------------------------------------------------------------


class PatientIn(In):
    name: str = Field(min_length=1, max_length=200)
    sex: Sex
    birth_date: dt.date | None = None
    phone: str = Field("", max_length=32)
    resident_id: str | None = Field(None, max_length=32)
    record_number: str | None = Field(None, max_length=64)


class PatientPatch(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    phone: str | None = Field(None, max_length=32)


class RecordNumberIn(In):
    number: str = Field(min_length=1, max_length=64)


class RecordNumberOut(Out):
    institution_id: int
    number: str


class PatientOut(Out):
    id: int
    name: str
    sex: Sex
    birth_date: dt.date | None
    phone: str
    resident_id: str | None
    home_institution_id: int
    record_numbers: list[RecordNumberOut]
    created_at: dt.datetime


class PatientBrief(Out):
    id: int
    name: str
    sex: Sex
    birth_date: dt.date | None


class PatientQuery(In):
    q: str = Field("", max_length=100)
    resident_id: str = Field("", max_length=32)
    limit: int = Field(50, ge=1, le=200)


class HistoryQuery(In):
    request_id: int | None = Field(None, ge=1, le=2**62)


class RegionalEntryOut(Out):
    resource: Literal["DocumentReference", "DiagnosticReport", "Encounter"]
    id: str
    date: str | None
    title: str
    category: str
    organization: str
    status: str
    text: str
    encounter_class: str


class RegionalOut(Out):
    """A patient's records elsewhere in the region; ``status``: ``ok``, ``not_configured``,
    ``no_identifier`` (no resident ID to ask by), ``not_found``, ``ambiguous`` (the platform
    holds several patients with that ID: nothing shown)."""

    status: Literal["ok", "not_configured", "no_identifier", "not_found", "ambiguous"]
    configured: bool
    source: str
    entries: list[RegionalEntryOut]
    skipped: int
    """Entries the platform sent that could not be read."""
    mismatched: int
    """Entries about another patient than the one asked for (never shown)."""
    more: bool
    unavailable: list[str]


class ConsentIn(In):
    scope: ConsentScope = ConsentScope.RECORDS
    expires_at: AwareDatetime | None = None
    note: str = Field("", max_length=2000)


class ConsentOut(Out):
    id: int
    patient_id: int
    scope: ConsentScope
    recorded_by: int
    granted_at: dt.datetime
    expires_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    note: str


class OverrideIn(In):
    reason: str = Field(min_length=1, max_length=2000)


class OverrideOut(Out):
    id: int
    patient_id: int
    user_id: int
    reason: str
    created_at: dt.datetime
    expires_at: dt.datetime


# --- requests, reports, referrals -------------------------------------------------------------


class RequestIn(In):
    patient_id: int
    kind: RequestKind
    priority: Priority = Priority.ROUTINE
    clinical_question: str = Field("", max_length=4000)
    details: dict[str, Any] = Field(default_factory=dict)


class ReasonIn(In):
    reason: str = Field(min_length=1, max_length=2000)


class RequestQuery(In):
    kind: RequestKind | None = None
    status: RequestStatus | None = None
    patient_id: int | None = None
    open: bool = False
    limit: int = Field(100, ge=1, le=500)


class WorklistQuery(In):
    kind: RequestKind | None = None


class RequestOut(BaseModel):
    id: int
    identifier: str
    kind: RequestKind
    priority: Priority
    status: RequestStatus
    patient_id: int
    patient: PatientBrief | None = Field(
        description="null while the caller lacks consent to see it"
    )
    requesting_institution_id: int
    requesting_institution: str
    requester_id: int | None
    performer_id: int | None
    clinical_question: str
    status_reason: str
    critical: bool
    critical_reason: str
    critical_reason_zh: str
    details: ShownJson
    created_at: dt.datetime
    due_at: dt.datetime
    accepted_at: dt.datetime | None
    completed_at: dt.datetime | None
    overdue: bool


class ReportIn(In):
    findings: str = Field("", max_length=20000)
    impression: str = Field("", max_length=20000)
    data: dict[str, Any] = Field(default_factory=dict)


class ReportPatch(In):
    findings: str | None = Field(None, max_length=20000)
    impression: str | None = Field(None, max_length=20000)
    data: dict[str, Any] | None = None


class AmendIn(In):
    reason: str = Field(min_length=1, max_length=2000)
    findings: str = Field("", max_length=20000)
    impression: str = Field("", max_length=20000)
    data: dict[str, Any] | None = None


class ReportOut(Out):
    id: int
    request_id: int
    version: int
    status: ReportStatus
    findings: str
    impression: str
    data: ShownJson
    author_id: int
    author_name: str
    created_at: dt.datetime
    signed_by: int | None
    signer_name: str | None
    signed_at: dt.datetime | None
    supersedes_id: int | None
    superseded_by_id: int | None
    amendment_reason: str
    content_hash: str


class DeliveryOut(BaseModel):
    report: ReportOut
    request_id: int
    request_identifier: str
    kind: RequestKind
    patient: PatientBrief
    delivered_at: dt.datetime
    read_at: dt.datetime | None
    read_by: int | None


class InboxQuery(In):
    unread: bool = False


class CloseIn(In):
    summary: str = Field("", max_length=8000)


class SummaryIn(In):
    summary: str = Field(min_length=1, max_length=8000)


# --- notifications and audit --------------------------------------------------------------------


class NotificationOut(Out):
    id: int
    kind: str
    title: str
    title_en: str
    request_id: int | None
    payload: ShownJson
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationQuery(In):
    unread: bool = False


class AuditQuery(In):
    patient_id: int | None = None
    actor: str | None = Field(None, max_length=64)
    action: str | None = Field(None, max_length=64)
    outcome: Outcome | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class AuditOut(Out):
    id: int
    seq: int | None
    at: dt.datetime
    actor_id: int | None
    actor: str
    action: str
    patient_id: int | None
    object_type: str
    object_id: str
    client: str
    outcome: Outcome
    detail: ShownJson
    hash: str | None


class AnchorOut(BaseModel):
    seq: int
    hash: str
    at: dt.datetime
    node: str


class ChainOut(BaseModel):
    ok: bool
    """The chain is whole and holds its newest anchor."""
    checked: int
    unsealed: int
    first_bad_seq: int | None
    problem: str
    anchor: AnchorOut | None = None
    """The newest anchor the chain was checked against."""
    anchor_problems: list[str] = []
    anchor_warning: str = ""
    anchor_chain_code: str = ""
    """``tail_cut``, ``seq_missing`` or ``chain_differs``: how the chain fails its anchor."""
    anchor_bad_files: int = 0
    """How many anchor files fail their signature check (kept as evidence)."""
    chain_head_seq: int = 0
    """The last sealed record's seq."""


class HealthOut(BaseModel):
    status: str
    database: str
    version: str
