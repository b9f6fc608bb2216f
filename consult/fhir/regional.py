"""Reading what a regional FHIR R4 platform answers about one patient (no I/O).

Everything here is hostile input: a searchset that is not a Bundle is refused whole
(:class:`~consult.errors.UpstreamFailed`, shown as a 502); inside a good Bundle, an entry that
cannot be read is skipped and counted, and an entry about another patient than the one asked
for is dropped and counted apart (right patient before anything is shown).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from consult.errors import UpstreamFailed

Json = dict[str, Any]

TIMELINE_TYPES = ("DocumentReference", "DiagnosticReport", "Encounter")
"""What the center asks the region for, in this order."""
MAX_ENTRIES = 100
"""Entries read from one Bundle (the center asks for 50; a server may send more)."""
TITLE_LIMIT = 200
TEXT_LIMIT = 2000
MAX_ATTACHMENT_BYTES = 64 * 1024
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
FHIR_DATE = re.compile(
    r"\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One record of the patient held elsewhere in the region."""

    resource: str
    id: str
    date: str | None
    """ISO 8601: a full time in UTC, or the date or month the record gives."""
    title: str
    category: str
    organization: str
    status: str
    text: str
    encounter_class: str = ""
    """For an encounter: the v3 ActCode (``AMB``, ``IMP``, ``EMER``, ...)."""

    def as_json(self) -> Json:
        return asdict(self)


@dataclass(slots=True)
class Timeline:
    """The readable entries of the searched types, newest first, and what was left out."""

    entries: list[TimelineEntry]
    skipped: int = 0
    """Entries that could not be read."""
    mismatched: int = 0
    """Entries about another patient (never shown)."""
    more: bool = False
    """A Bundle said there is a next page: the region holds more than is shown."""


def bundle_entries(bundle: Any, resource_type: str) -> Iterator[Any]:
    """The resources of ``resource_type`` in a searchset Bundle (others, such as an
    OperationOutcome of the search, are passed over)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise UpstreamFailed(f"the regional platform's {resource_type} search is not a Bundle")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise UpstreamFailed(f"the regional platform's {resource_type} Bundle.entry is not a list")
    for entry in entries[:MAX_ENTRIES]:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            yield None  # unreadable: counted by the caller
        elif resource.get("resourceType") == resource_type:
            yield resource


def has_next_page(bundle: Json) -> bool:
    links = bundle.get("link")
    return isinstance(links, list) and any(
        isinstance(link, dict) and link.get("relation") == "next" for link in links
    )


def matching_patients(bundle: Any, system: str, value: str) -> list[str]:
    """Ids of the Patients in ``bundle`` that really carry the identifier ``system|value``.

    A server that ignored the search parameter and sent other patients is not believed.
    """
    ids: list[str] = []
    for patient in bundle_entries(bundle, "Patient"):
        if patient is None or not _carries(patient, system, value):
            continue
        pid = patient.get("id")
        if not isinstance(pid, str) or not FHIR_ID.fullmatch(pid):
            raise UpstreamFailed("the regional platform sent a Patient without a valid id")
        if pid not in ids:
            ids.append(pid)
    return ids


def _carries(patient: Json, system: str, value: str) -> bool:
    identifiers = patient.get("identifier")
    if not isinstance(identifiers, list):
        return False
    return any(
        isinstance(i, dict) and i.get("system") == system and i.get("value") == value
        for i in identifiers
    )


def add_bundle(timeline: Timeline, resource_type: str, bundle: Any, patient_id: str) -> None:
    """Add the entries of one searched Bundle about ``Patient/patient_id`` to ``timeline``.

    Raises :class:`~consult.errors.UpstreamFailed` (adding nothing) for a non-Bundle.
    """
    reader = READERS[resource_type]
    for resource in bundle_entries(bundle, resource_type):
        _add(timeline, resource, reader, patient_id)
    timeline.more = timeline.more or has_next_page(bundle)
    timeline.entries.sort(key=lambda e: e.date or "", reverse=True)


def _add(
    timeline: Timeline,
    resource: Json | None,
    reader: Callable[[Json], TimelineEntry],
    patient_id: str,
) -> None:
    if resource is None:
        timeline.skipped += 1
        return
    subject = resource.get("subject")
    if not (isinstance(subject, dict) and refers_to(subject.get("reference"), patient_id)):
        timeline.mismatched += 1
        return
    try:
        timeline.entries.append(reader(resource))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        timeline.skipped += 1


def refers_to(reference: Any, patient_id: str) -> bool:
    """``Patient/<id>``, absolute or relative, with or without a version, names the patient."""
    if not isinstance(reference, str):
        return False
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return len(parts) >= 2 and parts[-2] == "Patient" and parts[-1] == patient_id


# -- one reader per resource type ---------------------------------------------------------------


def _document(resource: Json) -> TimelineEntry:
    content = _list(resource.get("content"))
    attachment = _dict(content[0].get("attachment")) if content else {}
    context = _dict(resource.get("context"))
    return TimelineEntry(
        resource="DocumentReference",
        id=_id(resource),
        date=fhir_date(resource.get("date"))
        or fhir_date(_dict(context.get("period")).get("start")),
        title=_text(resource.get("description"))
        or _concept(resource.get("type"))
        or _text(attachment.get("title")),
        category=_concept(_first(resource.get("category"))),
        organization=_display(resource.get("custodian"))
        or _display(_first(resource.get("author"))),
        status=_text(resource.get("docStatus")) or _text(resource.get("status")),
        text=attachment_text(attachment),
    )


def _report(resource: Json) -> TimelineEntry:
    return TimelineEntry(
        resource="DiagnosticReport",
        id=_id(resource),
        date=fhir_date(resource.get("effectiveDateTime"))
        or fhir_date(_dict(resource.get("effectivePeriod")).get("start"))
        or fhir_date(resource.get("issued")),
        title=_concept(resource.get("code")),
        category=_concept(_first(resource.get("category"))),
        organization=_display(_first(resource.get("performer"))),
        status=_text(resource.get("status")),
        text=_text(resource.get("conclusion"), TEXT_LIMIT),
    )


def _encounter(resource: Json) -> TimelineEntry:
    klass = _dict(resource.get("class"))
    return TimelineEntry(
        resource="Encounter",
        id=_id(resource),
        date=fhir_date(_dict(resource.get("period")).get("start")),
        title=_concept(_first(resource.get("type"))) or _text(klass.get("display")),
        category="",
        organization=_display(resource.get("serviceProvider")),
        status=_text(resource.get("status")),
        text=_concept(_first(resource.get("reasonCode"))),
        encounter_class=_text(klass.get("code"), 16),
    )


READERS: dict[str, Callable[[Json], TimelineEntry]] = {
    "DocumentReference": _document,
    "DiagnosticReport": _report,
    "Encounter": _encounter,
}


# -- hostile values -----------------------------------------------------------------------------


def fhir_date(value: Any) -> str | None:
    """A FHIR date, dateTime or instant as ISO 8601 (UTC for a full time); else ``None``."""
    if not isinstance(value, str) or not FHIR_DATE.fullmatch(value):
        return None
    if "T" not in value:
        return value
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return value
    return when.astimezone(dt.UTC).isoformat()


def attachment_text(attachment: Json) -> str:
    """The inline text of a ``text/plain`` attachment (not fetched from a ``url``)."""
    kind = _text(attachment.get("contentType")).split(";")[0].strip().lower()
    data = attachment.get("data")
    if kind != "text/plain" or not isinstance(data, str) or len(data) > MAX_ATTACHMENT_BYTES * 2:
        return ""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return ""
    return raw[:MAX_ATTACHMENT_BYTES].decode("utf-8", errors="replace")[:TEXT_LIMIT]


def _id(resource: Json) -> str:
    value = resource.get("id")
    if not isinstance(value, str) or not FHIR_ID.fullmatch(value):
        raise ValueError("no valid id")
    return value


def _text(value: Any, limit: int = TITLE_LIMIT) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first(value: Any) -> Json:
    items = _list(value)
    return _dict(items[0]) if items else {}


def _concept(value: Any) -> str:
    """A CodeableConcept's text, or its first coding's display (or code)."""
    concept = _dict(value)
    coding = _first(concept.get("coding"))
    return _text(concept.get("text")) or _text(coding.get("display")) or _text(coding.get("code"))


def _display(value: Any) -> str:
    return _text(_dict(value).get("display"))
