"""The controlled vocabularies of the center: roles, kinds, states.

String enums, so that the values stored in the database and sent over the API are readable.
"""

from __future__ import annotations

from enum import StrEnum


class InstitutionLevel(StrEnum):
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"


class Role(StrEnum):
    ADMIN = "admin"
    AUDITOR = "auditor"
    VILLAGE_DOCTOR = "village_doctor"
    TOWNSHIP_DOCTOR = "township_doctor"
    ECG_SPECIALIST = "ecg_specialist"
    IMAGING_SPECIALIST = "imaging_specialist"
    CONSULT_SPECIALIST = "consult_specialist"
    LAB_TECHNICIAN = "lab_technician"
    LAB_SUPERVISOR = "lab_supervisor"
    LAB_SPECIALIST = "lab_specialist"
    REFERRAL_DESK = "referral_desk"
    DUTY_DESK = "duty_desk"  # -- critical alerts: the center's desk that acts on them --
    # -- referrals: the receiving department's desk (sees and accepts its incoming referrals) --
    DEPARTMENT_DESK = "department_desk"
    # -- statistics: the health commission supervises (aggregates only, never a patient) --
    SUPERVISOR = "supervisor"

    @property
    def is_clinic(self) -> bool:
        """A doctor at a township health center or village clinic."""
        return self in (Role.VILLAGE_DOCTOR, Role.TOWNSHIP_DOCTOR)

    @property
    def is_center(self) -> bool:
        """A county specialist who works requests of some kind."""
        return self in SPECIALIST_KINDS


class Sex(StrEnum):
    MALE = "M"
    FEMALE = "F"
    OTHER = "O"
    UNKNOWN = "U"


class RequestKind(StrEnum):
    VIDEO_CONSULT = "video_consult"
    ECG_READ = "ecg_read"
    IMAGING_READ = "imaging_read"
    LAB_TEST = "lab_test"


class Priority(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    STAT = "stat"

    @property
    def rank(self) -> int:
        """Higher is more pressing (stat first on a worklist)."""
        return {"routine": 0, "urgent": 1, "stat": 2}[self.value]


class RequestStatus(StrEnum):
    """Lifecycle of a diagnostic request, modelled on FHIR Task.status."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    # -- consult: one owner, hold/resume --
    ON_HOLD = "on_hold"
    """The assignee asked the requesting clinic for more information; resumes on its answer."""

    @property
    def is_open(self) -> bool:
        return self in (
            RequestStatus.REQUESTED,
            RequestStatus.ACCEPTED,
            RequestStatus.IN_PROGRESS,
            RequestStatus.ON_HOLD,
        )


class ReportStatus(StrEnum):
    DRAFT = "draft"
    FINAL = "final"
    AMENDED = "amended"


class ReferralStatus(StrEnum):
    OPENED = "opened"
    ACCEPTED = "accepted"
    ARRIVED = "arrived"
    CLOSED = "closed"
    CANCELLED = "cancelled"


# -- referrals: published capacity --
class SlotKind(StrEnum):
    """What a department publishes capacity of (a green-channel referral books one place)."""

    CATH_LAB = "cath_lab"
    WARD_BED = "ward_bed"
    CLINIC_SESSION = "clinic_session"
    ICU_BED = "icu_bed"


OPEN_REFERRAL_STATES = frozenset(
    {ReferralStatus.OPENED, ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED}
)
"""A referral in one of these states is open: its request can have no second one."""
# -- end referrals --


class ConsentScope(StrEnum):
    """What a patient authorised: the county reading their records, recording a consult, or the
    center asking the regional health platform for the patient's records elsewhere."""

    RECORDS = "records"
    RECORDING = "recording"
    REGIONAL_RECORDS = "regional_records"


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


SPECIALIST_KINDS: dict[Role, frozenset[RequestKind]] = {
    Role.ECG_SPECIALIST: frozenset({RequestKind.ECG_READ}),
    Role.IMAGING_SPECIALIST: frozenset({RequestKind.IMAGING_READ}),
    Role.CONSULT_SPECIALIST: frozenset({RequestKind.VIDEO_CONSULT}),
    Role.LAB_TECHNICIAN: frozenset({RequestKind.LAB_TEST}),
    Role.LAB_SUPERVISOR: frozenset({RequestKind.LAB_TEST}),
    Role.LAB_SPECIALIST: frozenset({RequestKind.LAB_TEST}),
}
"""Which request kinds each county role works."""

KIND_DEPARTMENT: dict[RequestKind, str] = {
    RequestKind.ECG_READ: "cardiology",
    RequestKind.IMAGING_READ: "radiology",
    RequestKind.LAB_TEST: "laboratory",
    RequestKind.VIDEO_CONSULT: "internal_medicine",
}
"""The county department that performs each kind of request (by department code)."""


# -- critical alerts --
class AckMethod(StrEnum):
    """How a critical alert was acknowledged."""

    PHONE = "phone"
    IN_APP = "in_app"
