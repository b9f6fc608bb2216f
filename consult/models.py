"""The core tables: institutions, people, patients, consent, requests, reports, referrals,
notifications and the audit log.

Only storage shape lives here; the rules live in the service modules beside it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consult.db import Base, utcnow
from consult.vocab import (
    ConsentScope,
    InstitutionLevel,
    Outcome,
    Priority,
    ReferralStatus,
    ReportStatus,
    RequestKind,
    RequestStatus,
    Role,
    Sex,
    SlotKind,
)


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class Institution(Base):
    __tablename__ = "institution"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    level: Mapped[InstitutionLevel] = mapped_column(_enum(InstitutionLevel))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    phone: Mapped[str] = mapped_column(String(32), default="")  # -- critical alerts --
    # -- HL7 results out: the clinic's HIS (MLLP); empty host or port 0: nothing is sent --
    his_host: Mapped[str] = mapped_column(String(253), default="")
    his_port: Mapped[int] = mapped_column(Integer, default=0)

    departments: Mapped[list[Department]] = relationship(
        back_populates="institution", lazy="selectin", order_by="Department.id"
    )


class Department(Base):
    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("institution_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")

    institution: Mapped[Institution] = relationship(back_populates="departments")


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # -- consult: one owner --
    department_head: Mapped[bool] = mapped_column(Boolean, default=False)
    """Heads a county department: may reassign its requests."""

    institution: Mapped[Institution] = relationship(lazy="joined")


class AuthToken(Base):
    """A bearer token; only its SHA-256 digest is stored."""

    __tablename__ = "auth_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    client_ip: Mapped[str] = mapped_column(String(64), default="")


class Patient(Base):
    __tablename__ = "patient"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    sex: Mapped[Sex] = mapped_column(_enum(Sex))
    birth_date: Mapped[dt.date | None]
    phone: Mapped[str] = mapped_column(String(32), default="")
    resident_id: Mapped[str | None] = mapped_column(String(18), unique=True)
    home_institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    record_numbers: Mapped[list[PatientRecordNumber]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="PatientRecordNumber.id"
    )


class PatientRecordNumber(Base):
    """An institution's own record number for a patient (門診号 / 住院号)."""

    __tablename__ = "patient_record_number"
    __table_args__ = (UniqueConstraint("institution_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    number: Mapped[str] = mapped_column(String(64))


class Consent(Base):
    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    scope: Mapped[ConsentScope] = mapped_column(_enum(ConsentScope))
    recorded_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    withdrawn_at: Mapped[dt.datetime | None]
    withdrawn_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    note: Mapped[str] = mapped_column(Text, default="")

    def active_at(self, when: dt.datetime) -> bool:
        if self.withdrawn_at is not None and self.withdrawn_at <= when:
            return False
        return self.expires_at is None or self.expires_at > when


class EmergencyOverride(Base):
    """A specialist's break-the-glass access to one patient, with a reason, for a short time."""

    __tablename__ = "emergency_override"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class DiagnosticRequest(Base):
    __tablename__ = "diagnostic_request"
    __table_args__ = (
        Index("ix_request_worklist", "kind", "status", "due_at"),
        Index("ix_request_institution", "requesting_institution_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[RequestKind] = mapped_column(_enum(RequestKind))
    priority: Mapped[Priority] = mapped_column(_enum(Priority))
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    requesting_institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    performer_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    clinical_question: Mapped[str] = mapped_column(Text, default="")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    critical_reason: Mapped[str] = mapped_column(Text, default="")
    critical_reason_zh: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime]
    accepted_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    overdue_notified_at: Mapped[dt.datetime | None]

    patient: Mapped[Patient] = relationship(lazy="joined")
    requesting_institution: Mapped[Institution] = relationship(lazy="joined")


class Report(Base):
    """One version of a report; a signed version is never changed again."""

    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("request_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[ReportStatus] = mapped_column(_enum(ReportStatus))
    findings: Mapped[str] = mapped_column(Text, default="")
    impression: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    author_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    signed_at: Mapped[dt.datetime | None]
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"))
    amendment_reason: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    verify_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    """Random, given at signing: the printed QR code's key to the public verification page."""

    request: Mapped[DiagnosticRequest] = relationship(lazy="joined")
    signer: Mapped[User | None] = relationship(foreign_keys=[signed_by], lazy="joined")
    author: Mapped[User] = relationship(foreign_keys=[author_id], lazy="joined")

    @property
    def signer_name(self) -> str | None:
        return self.signer.display_name if self.signer is not None else None

    @property
    def author_name(self) -> str:
        return self.author.display_name


class ReportDelivery(Base):
    """A signed report delivered to the referring institution, and who read it there."""

    __tablename__ = "report_delivery"
    __table_args__ = (UniqueConstraint("report_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    delivered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]
    read_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    report: Mapped[Report] = relationship(lazy="joined")


class Referral(Base):
    """A green-channel referral to a county department, and the back-referral closing the loop."""

    __tablename__ = "referral"
    # -- referrals: at most one open referral per request (and so per report) --
    __table_args__ = (
        Index(
            "uq_referral_open_request",
            "request_id",
            unique=True,
            sqlite_where=text("status IN ('opened', 'accepted', 'arrived')"),
            postgresql_where=text("status IN ('opened', 'accepted', 'arrived')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("diagnostic_request.id"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"))
    from_institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    to_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    urgency: Mapped[Priority] = mapped_column(_enum(Priority))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[ReferralStatus] = mapped_column(_enum(ReferralStatus))
    opened_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    accepted_at: Mapped[dt.datetime | None]
    slot_at: Mapped[dt.datetime | None]
    slot_place: Mapped[str] = mapped_column(String(200), default="")
    arrived_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    cancelled_reason: Mapped[str] = mapped_column(Text, default="")
    back_referral_summary: Mapped[str] = mapped_column(Text, default="")
    back_referred_at: Mapped[dt.datetime | None]
    # -- referrals: the clinical summary and the booked capacity slot --
    summary: Mapped[str] = mapped_column(Text, default="")
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("capacity_slot.id"), index=True)

    patient: Mapped[Patient] = relationship(lazy="joined")


class CapacitySlot(Base):
    """Places a county department publishes (cath lab, ward beds, clinic sessions) for a time.

    ``booked`` never exceeds ``capacity``: bookings are one conditional UPDATE, and the check
    constraint holds the line whatever the code does.
    """

    __tablename__ = "capacity_slot"
    __table_args__ = (
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_capacity_slot_department_start", "department_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    kind: Mapped[SlotKind] = mapped_column(_enum(SlotKind))
    place: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    published_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# -- end referrals --


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("diagnostic_request.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]


class AuditRecord(Base):
    """One audited action. ``seq``/``prev_hash``/``hash`` are filled when the record is sealed
    into the hash chain, in commit order (see :mod:`consult.audit`)."""

    __tablename__ = "audit_record"
    __table_args__ = (Index("ix_audit_patient", "patient_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    patient_id: Mapped[int | None] = mapped_column(Integer)
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    client: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


# -- consult: one owner, hold/resume --
class RequestHold(Base):
    """The assignee's question to the requesting clinic, which holds the request until answered."""

    __tablename__ = "request_hold"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    asked_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    asked_at: Mapped[dt.datetime]
    resume_status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus))
    """The state the request returns to on the clinic's answer."""
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    answered_at: Mapped[dt.datetime | None]

    asker: Mapped[User] = relationship(foreign_keys=[asked_by], lazy="joined")
    answerer: Mapped[User | None] = relationship(foreign_keys=[answered_by], lazy="joined")

    @property
    def asker_name(self) -> str:
        return self.asker.display_name

    @property
    def answerer_name(self) -> str | None:
        return self.answerer.display_name if self.answerer is not None else None
