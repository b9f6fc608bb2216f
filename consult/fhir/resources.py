"""Domain rows as FHIR R4 resources (plain JSON-ready dicts; no I/O, no HTTP).

Identifier systems (documented in the README):

- ``RESIDENT_ID_SYSTEM``: the 18-character resident identity card number.
- ``RECORD_NUMBER_SYSTEM/<institution id>``: a clinic's own record number (type ``MR``).
- ``REQUEST_SYSTEM``: the request's identifier (the accession-like number the clinic sees).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from consult.models import DiagnosticRequest, Patient, Report
from consult.vocab import Priority, ReportStatus, RequestKind, RequestStatus, Sex

BASE = "https://telecenter.local/fhir"
RESIDENT_ID_SYSTEM = f"{BASE}/sid/resident-id"
RECORD_NUMBER_SYSTEM = f"{BASE}/sid/record-number"
REQUEST_SYSTEM = f"{BASE}/sid/request"
REQUEST_KIND_SYSTEM = f"{BASE}/CodeSystem/request-kind"
LOINC = "http://loinc.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
FHIR_VERSION = "4.0.1"

Json = dict[str, Any]

GENDER = {Sex.MALE: "male", Sex.FEMALE: "female", Sex.OTHER: "other", Sex.UNKNOWN: "unknown"}
REQUEST_STATUS = {
    RequestStatus.REQUESTED: "active",
    RequestStatus.ACCEPTED: "active",
    RequestStatus.IN_PROGRESS: "active",
    RequestStatus.ON_HOLD: "on-hold",
    RequestStatus.COMPLETED: "completed",
    RequestStatus.REJECTED: "revoked",
    RequestStatus.CANCELLED: "revoked",
}
REPORT_STATUS = {ReportStatus.FINAL: "final", ReportStatus.AMENDED: "amended"}
PRIORITY = {Priority.ROUTINE: "routine", Priority.URGENT: "urgent", Priority.STAT: "stat"}
KIND_DISPLAY = {
    RequestKind.VIDEO_CONSULT: "视频会诊 / video consult",
    RequestKind.ECG_READ: "心电图判读 / ECG reading",
    RequestKind.IMAGING_READ: "影像判读 / imaging reading",
    RequestKind.LAB_TEST: "检验 / laboratory test",
}
# (v2-0074 diagnostic service section, LOINC document code, its display)
REPORT_KIND = {
    RequestKind.ECG_READ: ("EC", "11524-6", "EKG study"),
    RequestKind.IMAGING_READ: ("RAD", "18748-4", "Diagnostic imaging study"),
    RequestKind.LAB_TEST: ("LAB", "11502-2", "Laboratory report"),
    RequestKind.VIDEO_CONSULT: ("OTH", "11488-4", "Consult note"),
}


def instant(moment: dt.datetime) -> str:
    """An ``instant``: always with a zone (SQLite gives naive UTC back)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat()


def reference(resource_type: str, row_id: int) -> Json:
    return {"reference": f"{resource_type}/{row_id}"}


def patient(row: Patient, *, updated: dt.datetime | None = None) -> Json:
    """A :class:`Patient` with its resident ID and every clinic's record number."""
    identifiers: list[Json] = []
    if row.resident_id:
        identifiers.append(
            {"use": "official", "system": RESIDENT_ID_SYSTEM, "value": row.resident_id}
        )
    identifiers += [
        {
            "use": "usual",
            "type": {"coding": [{"system": V2_0203, "code": "MR"}]},
            "system": f"{RECORD_NUMBER_SYSTEM}/{number.institution_id}",
            "value": number.number,
        }
        for number in row.record_numbers
    ]
    resource: Json = {
        "resourceType": "Patient",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(updated or row.created_at)},
        "name": [{"text": row.name}],
        "gender": GENDER[row.sex],
    }
    if identifiers:
        resource["identifier"] = identifiers
    if row.birth_date is not None:
        resource["birthDate"] = row.birth_date.isoformat()
    if row.phone:
        resource["telecom"] = [{"system": "phone", "value": row.phone}]
    return resource


def kind_code(row: DiagnosticRequest) -> Json:
    """What the request asks for, in our request-kind code system."""
    coding = {
        "system": REQUEST_KIND_SYSTEM,
        "code": str(row.kind),
        "display": KIND_DISPLAY[row.kind],
    }
    return {"coding": [coding]}


def service_request(row: DiagnosticRequest) -> Json:
    """A :class:`DiagnosticRequest` as a ServiceRequest (an order to the center)."""
    resource: Json = {
        "resourceType": "ServiceRequest",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "identifier": [{"system": REQUEST_SYSTEM, "value": row.identifier}],
        "status": REQUEST_STATUS[row.status],
        "intent": "order",
        "priority": PRIORITY[row.priority],
        "code": kind_code(row),
        "subject": reference("Patient", row.patient_id),
        "authoredOn": instant(row.created_at),
    }
    if row.clinical_question:
        resource["reasonCode"] = [{"text": row.clinical_question}]
    return resource


def diagnostic_report(row: Report) -> Json:
    """A signed :class:`Report` version as a DiagnosticReport (drafts are never mapped)."""
    if row.status not in REPORT_STATUS or row.signed_at is None:
        raise ValueError(f"report {row.id} is not signed")
    section, code, display = REPORT_KIND[row.request.kind]
    text = "\n\n".join(part for part in (row.findings, row.impression) if part)
    resource: Json = {
        "resourceType": "DiagnosticReport",
        "id": str(row.id),
        "meta": {"versionId": str(row.version), "lastUpdated": instant(row.signed_at)},
        "identifier": [
            {"system": REQUEST_SYSTEM, "value": f"{row.request.identifier}-{row.version}"}
        ],
        "basedOn": [reference("ServiceRequest", row.request_id)],
        "status": REPORT_STATUS[row.status],
        "category": [{"coding": [{"system": V2_0074, "code": section}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": reference("Patient", row.request.patient_id),
        "effectiveDateTime": instant(row.request.created_at),
        "issued": instant(row.signed_at),
    }
    if row.signer is not None:
        resource["resultsInterpreter"] = [{"display": row.signer.display_name}]
    if row.impression:
        resource["conclusion"] = row.impression
    if text:
        resource["presentedForm"] = [
            {
                "contentType": "text/plain; charset=utf-8",
                "language": "zh-CN",
                "data": base64.b64encode(text.encode()).decode(),
            }
        ]
    return resource


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> Json:
    """An OperationOutcome with one issue (``code`` from the FHIR issue-type value set)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def bundle(
    resources: list[Json],
    *,
    total: int,
    self_url: str,
    next_url: str | None,
    base: str,
    previous_url: str | None = None,
) -> Json:
    """A searchset Bundle: ``total`` matches, this page's entries, ``self``, ``next`` and
    ``previous`` links."""
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    if previous_url is not None:
        links.append({"relation": "previous", "url": previous_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


SEARCH_PARAMS: dict[str, list[tuple[str, str]]] = {
    "Patient": [("identifier", "token"), ("name", "string")],
    "ServiceRequest": [
        ("patient", "reference"),
        ("status", "token"),
        ("code", "token"),
        ("identifier", "token"),
        ("category", "token"),
        ("authored", "date"),
    ],
    "Task": [
        ("patient", "reference"),
        ("status", "token"),
        ("code", "token"),
        ("identifier", "token"),
        ("authored-on", "date"),
    ],
    "Encounter": [
        ("patient", "reference"),
        ("status", "token"),
        ("identifier", "token"),
        ("date", "date"),
    ],
    "Appointment": [("patient", "reference"), ("status", "token"), ("date", "date")],
    "DiagnosticReport": [("patient", "reference"), ("status", "token"), ("date", "date")],
    "Observation": [
        ("patient", "reference"),
        ("category", "token"),
        ("code", "token"),
        ("date", "date"),
    ],
    "ImagingStudy": [
        ("patient", "reference"),
        ("identifier", "token"),
        ("modality", "token"),
        ("started", "date"),
    ],
}
COMMON_PARAMS = [("_lastUpdated", "date"), ("_count", "number"), ("_offset", "number")]


def capability_statement(*, version: str, base: str, date: dt.datetime) -> Json:
    """What this server does: read and search of the resources above, JSON only."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(date),
        "publisher": "telecenter",
        "kind": "instance",
        "software": {"name": "telecenter", "version": version},
        "implementation": {"description": "telecenter FHIR R4 read API", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Bearer token (Authorization: Bearer) or the session cookie, "
                    "as for /api/v1; records are scoped by institution, role and consent."
                },
                "resource": [
                    {
                        "type": rtype,
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {"name": name, "type": ptype} for name, ptype in params + COMMON_PARAMS
                        ],
                    }
                    for rtype, params in SEARCH_PARAMS.items()
                ],
            }
        ],
    }
