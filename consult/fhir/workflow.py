"""The request's workflow as FHIR: Task, Encounter (video consults), and referrals as a
ServiceRequest with its reserved slot as an Appointment (plain dicts, no I/O).

Ids: a Task and an Encounter share the id of their request (``Task/12`` is the work on
``ServiceRequest/12``); a referral is ``ServiceRequest/referral-<n>`` and its booked slot
``Appointment/<n>``. People and organisations are logical references (an identifier and a name):
this server does not serve Practitioner or Organization resources.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from consult.fhir.params import bad_param, parse_id
from consult.fhir.resources import (
    BASE,
    PRIORITY,
    Json,
    instant,
    kind_code,
    reference,
)
from consult.models import CapacitySlot, Department, DiagnosticRequest, Institution, Referral, User
from consult.vocab import ReferralStatus, RequestStatus

INSTITUTION_SYSTEM = f"{BASE}/sid/institution"
DEPARTMENT_SYSTEM = f"{BASE}/sid/department"
USER_SYSTEM = f"{BASE}/sid/user"
RESERVED_SLOT = f"{BASE}/StructureDefinition/reserved-slot"
SNOMED = "http://snomed.info/sct"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
REFERRAL_PREFIX = "referral-"
_REFERRAL_ID = re.compile(r"^referral-([0-9]{1,18})$")

TASK_STATUS = {
    RequestStatus.REQUESTED: "requested",
    RequestStatus.ACCEPTED: "accepted",
    RequestStatus.IN_PROGRESS: "in-progress",
    RequestStatus.ON_HOLD: "on-hold",
    RequestStatus.COMPLETED: "completed",
    RequestStatus.REJECTED: "rejected",
    RequestStatus.CANCELLED: "cancelled",
}
REFERRAL_STATUS = {
    ReferralStatus.OPENED: "active",
    ReferralStatus.ACCEPTED: "active",
    ReferralStatus.ARRIVED: "active",
    ReferralStatus.CLOSED: "completed",
    ReferralStatus.CANCELLED: "revoked",
}
APPOINTMENT_STATUS = {
    ReferralStatus.ACCEPTED: "booked",
    ReferralStatus.ARRIVED: "arrived",
    ReferralStatus.CLOSED: "fulfilled",
    ReferralStatus.CANCELLED: "cancelled",
}
ENCOUNTER_STATUSES = ("planned", "in-progress", "finished", "cancelled")
# room roles (signaling) -> v3 ParticipationType
ROOM_ROLE = {"host": "REF", "member": "CON", "guest": "PART"}


def parse_service_request_id(value: str) -> tuple[str, int]:
    """``12`` -> ``("request", 12)``; ``referral-3`` -> ``("referral", 3)``."""
    match = _REFERRAL_ID.match(value)
    if match is None:
        return "request", parse_id(value)
    if int(match.group(1)) == 0:
        raise bad_param("id", value, "a referral id is referral-<n>, n > 0")
    return "referral", int(match.group(1))


def logical(system: str, row_id: int | None, display: str, resource_type: str) -> Json:
    """A reference by identifier (the target is not served here) with a display name."""
    ref: Json = {"type": resource_type, "display": display}
    if row_id is not None:
        ref["identifier"] = {"system": system, "value": str(row_id)}
    return ref


def organization(row: Institution) -> Json:
    return logical(INSTITUTION_SYSTEM, row.id, row.name, "Organization")


def practitioner(row: User) -> Json:
    return logical(USER_SYSTEM, row.id, row.display_name, "Practitioner")


def _period(start: dt.datetime | None, end: dt.datetime | None) -> Json:
    period: Json = {}
    if start is not None:
        period["start"] = instant(start)
    if end is not None:
        period["end"] = instant(end)
    return period


def task(row: DiagnosticRequest, performer: User | None) -> Json:
    """The center's work on a request: owned by the assigned specialist, focused on the order."""
    resource: Json = {
        "resourceType": "Task",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "identifier": [{"system": f"{BASE}/sid/task", "value": row.identifier}],
        "basedOn": [reference("ServiceRequest", row.id)],
        "status": TASK_STATUS[row.status],
        "intent": "order",
        "priority": PRIORITY[row.priority],
        "code": kind_code(row),
        "focus": reference("ServiceRequest", row.id),
        "for": reference("Patient", row.patient_id),
        "authoredOn": instant(row.created_at),
        "lastModified": instant(row.updated_at),
        "requester": organization(row.requesting_institution),
        "restriction": {"period": {"end": instant(row.due_at)}},
    }
    if performer is not None:
        resource["owner"] = practitioner(performer)
    if row.status_reason:
        resource["statusReason"] = {"text": row.status_reason}
    if period := _period(row.accepted_at, row.completed_at):
        resource["executionPeriod"] = period
    return resource


def _room_events(row: DiagnosticRequest, event: str) -> list[dict[str, Any]]:
    log = row.details.get("room_log") if isinstance(row.details, dict) else None
    return [e for e in log or [] if isinstance(e, dict) and e.get("event") == event]


def _moment(entry: dict[str, Any] | None) -> dt.datetime | None:
    try:
        return None if entry is None else dt.datetime.fromisoformat(str(entry.get("at")))
    except ValueError:
        return None


def encounter_status(row: DiagnosticRequest) -> str:
    """planned until the room starts, in-progress while it is open, then finished."""
    if row.status in (RequestStatus.CANCELLED, RequestStatus.REJECTED):
        return "cancelled"
    started, ended = _room_events(row, "start"), _room_events(row, "end")
    if row.status is RequestStatus.COMPLETED or (started and ended):
        return "finished"
    return "in-progress" if started else "planned"


def _participants(row: DiagnosticRequest, performer: User | None) -> list[Json]:
    found: list[Json] = []
    if performer is not None:
        found.append(_participant("CON", practitioner(performer)))
    seen = {f"user:{performer.id}"} if performer is not None else set()
    for join in _room_events(row, "join"):
        who, role = str(join.get("who", "")), str(join.get("role", ""))
        if who in seen or role not in ROOM_ROLE:
            continue
        seen.add(who)
        found.append(_participant(ROOM_ROLE[role], {"display": str(join.get("name") or who)}))
    return found


def _participant(code: str, individual: Json) -> Json:
    return {
        "type": [{"coding": [{"system": PARTICIPATION, "code": code}]}],
        "individual": individual,
    }


def encounter(row: DiagnosticRequest, performer: User | None) -> Json:
    """A video consult as a virtual Encounter, its period from the room's first start/last end."""
    starts, ends = _room_events(row, "start"), _room_events(row, "end")
    resource: Json = {
        "resourceType": "Encounter",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "identifier": [{"system": f"{BASE}/sid/encounter", "value": row.identifier}],
        "status": encounter_status(row),
        "class": {"system": ACT_CODE, "code": "VR", "display": "virtual"},
        "priority": {"text": PRIORITY[row.priority]},
        "subject": reference("Patient", row.patient_id),
        "basedOn": [reference("ServiceRequest", row.id)],
        "serviceProvider": organization(row.requesting_institution),
    }
    if participants := _participants(row, performer):
        resource["participant"] = participants
    ended = _moment(ends[-1]) if ends and starts else None
    if period := _period(_moment(starts[0]) if starts else None, ended):
        resource["period"] = period
    if row.clinical_question:
        resource["reasonCode"] = [{"text": row.clinical_question}]
    return resource


def referral_updated(row: Referral) -> dt.datetime:
    """The referral's last change: the latest of its stamps."""
    stamps = (row.opened_at, row.accepted_at, row.arrived_at, row.closed_at, row.back_referred_at)
    return max(_aware(s) for s in stamps if s is not None)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def referral_request(row: Referral, source: Institution, department: Department) -> Json:
    """A green-channel referral: from the clinic's organisation to a county department."""
    resource: Json = {
        "resourceType": "ServiceRequest",
        "id": f"{REFERRAL_PREFIX}{row.id}",
        "meta": {"lastUpdated": instant(referral_updated(row))},
        "identifier": [{"system": f"{BASE}/sid/referral", "value": str(row.id)}],
        "status": REFERRAL_STATUS[row.status],
        "intent": "order",
        "category": [{"coding": [{"system": SNOMED, "code": "3457005", "display": "referral"}]}],
        "priority": PRIORITY[row.urgency],
        "code": {"text": f"转诊 / referral: {department.name}"},
        "subject": reference("Patient", row.patient_id),
        "authoredOn": instant(row.opened_at),
        "requester": organization(source),
        "performer": [logical(DEPARTMENT_SYSTEM, department.id, department.name, "Organization")],
        "reasonCode": [{"text": row.reason}],
    }
    if row.request_id is not None:
        resource["basedOn"] = [reference("ServiceRequest", row.request_id)]
    if row.summary:
        resource["note"] = [{"text": row.summary}]
    if row.slot_at is not None:
        resource["extension"] = [
            {"url": RESERVED_SLOT, "valueReference": reference("Appointment", row.id)}
        ]
        resource["occurrenceDateTime"] = instant(row.slot_at)
    return resource


def appointment(row: Referral, slot: CapacitySlot | None, department: Department) -> Json:
    """The place a referral booked (a published capacity slot) as an Appointment."""
    if row.slot_at is None or row.status not in APPOINTMENT_STATUS:
        raise ValueError(f"referral {row.id} has no booked slot")
    start = slot.starts_at if slot is not None else row.slot_at
    resource: Json = {
        "resourceType": "Appointment",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(referral_updated(row))},
        "status": APPOINTMENT_STATUS[row.status],
        "basedOn": [{"reference": f"ServiceRequest/{REFERRAL_PREFIX}{row.id}"}],
        "start": instant(start),
        "participant": [
            {"actor": reference("Patient", row.patient_id), "status": "accepted"},
            {
                "actor": logical(
                    DEPARTMENT_SYSTEM, department.id, department.name, "HealthcareService"
                ),
                "status": "accepted",
            },
        ],
        "description": row.slot_place or (slot.place if slot is not None else ""),
    }
    if slot is not None:
        resource["end"] = instant(slot.ends_at)
    if not resource["description"]:
        del resource["description"]
    if row.status is ReferralStatus.CANCELLED and row.cancelled_reason:
        resource["cancelationReason"] = {"text": row.cancelled_reason}
    return resource
