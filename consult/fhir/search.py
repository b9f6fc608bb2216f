"""Reads and searches behind the FHIR API, with the API's scoping, consent rule and audit.

A read is the API's read (out of scope: not found; county staff without consent: consent
required). A search applies the same rule as a read: it only ever finds what the caller could read
one by one, and records one audit row per patient it returned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import selectinload

from consult.access import (
    needs_consent,
    patient_clause,
    readable_child,
    readable_now_clause,
    readable_patient,
    readable_request,
    request_clause,
)
from consult.center import Work
from consult.errors import NotFound
from consult.fhir.observations import (
    ECG_MEASURES,
    ECG_PANEL,
    ECG_PREFIX,
    LOCAL_TEST_SYSTEM,
    ecg_observation,
    lab_observation,
)
from consult.fhir.params import DateBound, Page
from consult.fhir.resources import (
    LOINC,
    RECORD_NUMBER_SYSTEM,
    REPORT_STATUS,
    REQUEST_STATUS,
    RESIDENT_ID_SYSTEM,
    Json,
    patient,
)
from consult.models import AuditRecord, DiagnosticRequest, Patient, PatientRecordNumber, Report
from consult.quality_tables import unreleased
from consult.reports import standing_clause
from consult.vocab import ReportStatus, RequestStatus
from ecg.store import EcgRecording
from lab.tables import LabOrder, LabResult, LabTest
from lab.vocab import ResultStatus

RowT = TypeVar("RowT")


@dataclass(frozen=True)
class Found(Generic[RowT]):
    """One page of a search and the number of all matches."""

    rows: list[RowT]
    total: int


@dataclass(frozen=True)
class PatientSearch:
    identifier: str | None = None
    name: str | None = None
    updated: tuple[DateBound, ...] = ()


@dataclass(frozen=True)
class RecordSearch:
    """ServiceRequest and DiagnosticReport searches: by patient, status codes and dates."""

    patient_id: int | None = None
    statuses: tuple[str, ...] = ()
    dates: tuple[DateBound, ...] = field(default_factory=tuple)
    updated: tuple[DateBound, ...] = ()
    """``_lastUpdated`` bounds."""
    codes: tuple[str, ...] = ()
    identifier: str | None = None


def within(query: Select[Any], column: Any, bounds: Sequence[DateBound]) -> Select[Any]:
    """``query`` restricted to rows whose ``column`` meets every bound."""
    for bound in bounds:
        query = query.where(_date_clause(column, bound))
    return query


def _date_clause(column: Any, bound: DateBound) -> ColumnElement[bool]:
    start, end = bound.start.astimezone(dt.UTC), bound.end.astimezone(dt.UTC)
    return {
        "eq": and_(column >= start, column < end),
        "ne": or_(column < start, column >= end),
        "gt": column >= end,
        "ge": column >= start,
        "lt": column < start,
        "le": column < end,
    }[bound.prefix]


async def page_of(work: Work, query: Select[Any], order: Any, page: Page) -> tuple[list[Any], int]:
    total = await work.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await work.session.scalars(query.order_by(order).offset(page.offset).limit(page.count))
    return list(rows.unique()), int(total or 0)


def consented(work: Work, patient_id: Any) -> ColumnElement[bool] | None:
    """County staff find only patients whose record they could read now (consent, override)."""
    if not needs_consent(work.principal):
        return None
    return patient_id.in_(select(Patient.id).where(readable_now_clause(work.principal, work.now)))


# -- Patient --


PATIENT_CHANGES = ("patient.update", "patient.record_number")
"""The audited actions that change a Patient resource after its registration."""


def patient_updated_at() -> Any:
    """SQL for a patient's last change: its last audited edit, else its registration."""
    last_edit = (
        select(func.max(AuditRecord.at))
        .where(AuditRecord.patient_id == Patient.id, AuditRecord.action.in_(PATIENT_CHANGES))
        .scalar_subquery()
    )
    return func.coalesce(last_edit, Patient.created_at)


async def _patient_resources(work: Work, rows: Sequence[Patient]) -> list[Json]:
    changed = await work.session.execute(
        select(Patient.id, patient_updated_at()).where(Patient.id.in_([p.id for p in rows]))
    )
    updated: dict[int, dt.datetime] = {row.id: row[1] for row in changed}
    return [patient(row, updated=updated.get(row.id)) for row in rows]


async def read_patient(work: Work, patient_id: int) -> Json:
    row = await readable_patient(work, patient_id, "fhir.patient.read")
    return (await _patient_resources(work, [row]))[0]


def _identifier_clause(identifier: str) -> ColumnElement[bool]:
    system, _, value = identifier.rpartition("|")
    value = value.strip()
    by_number = Patient.id.in_(
        select(PatientRecordNumber.patient_id).where(PatientRecordNumber.number == value)
    )
    if "|" not in identifier or system == "":
        return or_(Patient.resident_id == value.upper(), by_number)
    if system == RESIDENT_ID_SYSTEM:
        return Patient.resident_id == value.upper()
    institution = system.removeprefix(f"{RECORD_NUMBER_SYSTEM}/")
    if institution != system and institution.isascii() and institution.isdigit():
        return Patient.id.in_(
            select(PatientRecordNumber.patient_id).where(
                PatientRecordNumber.number == value,
                PatientRecordNumber.institution_id == int(institution[:18]),
            )
        )
    return Patient.id.in_([])  # a system we do not issue: nothing matches


async def search_patients(work: Work, search: PatientSearch, page: Page) -> Found[Json]:
    query = (
        select(Patient)
        .where(patient_clause(work.principal))
        .options(selectinload(Patient.record_numbers))
    )
    if search.identifier is not None:
        query = query.where(_identifier_clause(search.identifier))
    if search.name is not None:
        query = query.where(Patient.name.like(f"%{_escape(search.name)}%", escape="\\"))
    query = within(query, patient_updated_at(), search.updated)
    if (consent := consented(work, Patient.id)) is not None:
        query = query.where(consent)
    rows, total = await page_of(work, query, Patient.id, page)
    work.audit_patients("fhir.patient.search", (p.id for p in rows))
    return Found(await _patient_resources(work, rows), total)


def _escape(text: str) -> str:
    return text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- ServiceRequest --


async def read_request(work: Work, request_id: int) -> DiagnosticRequest:
    return await readable_request(work, request_id, "fhir.request.read")


def statuses_of(codes: Sequence[str], table: dict[Any, str]) -> list[Any]:
    return [ours for ours, theirs in table.items() if theirs in codes]


def requests_query(
    work: Work, search: RecordSearch, statuses: dict[RequestStatus, str]
) -> Select[Any]:
    """The requests the caller may read that match ``search`` (``statuses``: ours to theirs);
    shared by ServiceRequest, Task and Encounter, which are views of one request."""
    query = select(DiagnosticRequest).where(request_clause(work.principal))
    if search.patient_id is not None:
        query = query.where(DiagnosticRequest.patient_id == search.patient_id)
    if search.statuses:
        ours: list[RequestStatus] = statuses_of(search.statuses, statuses)
        query = query.where(DiagnosticRequest.status.in_(ours))
    if search.codes:
        query = query.where(DiagnosticRequest.kind.in_(search.codes))
    if search.identifier is not None:
        value = search.identifier.rpartition("|")[2].strip()
        query = query.where(DiagnosticRequest.identifier == value)
    query = within(query, DiagnosticRequest.created_at, search.dates)
    query = within(query, DiagnosticRequest.updated_at, search.updated)
    if (consent := consented(work, DiagnosticRequest.patient_id)) is not None:
        query = query.where(consent)
    return query


async def search_requests(work: Work, search: RecordSearch, page: Page) -> Found[DiagnosticRequest]:
    query = requests_query(work, search, REQUEST_STATUS)
    rows, total = await page_of(work, query, DiagnosticRequest.id.desc(), page)
    work.audit_patients("fhir.request.search", (r.patient_id for r in rows))
    return Found(rows, total)


# -- DiagnosticReport --


async def read_report(work: Work, report_id: int) -> Report:
    """A signed report version; drafts and out-of-scope reports are not found."""
    report = await work.session.get(Report, report_id)
    if report is None or report.status is ReportStatus.DRAFT:
        raise NotFound(f"no report {report_id}")
    if await work.session.scalar(select(Report.id).where(Report.id == report_id, unreleased())):
        raise NotFound(f"no report {report_id}")
    try:
        await readable_request(work, report.request_id, "fhir.report.read")
    except NotFound:
        raise NotFound(f"no report {report_id}") from None
    return report


async def search_reports(work: Work, search: RecordSearch, page: Page) -> Found[Report]:
    """The current signed version of each report (amended ones replace what they amend)."""
    query = (
        select(Report)
        .join(DiagnosticRequest, DiagnosticRequest.id == Report.request_id)
        .where(
            request_clause(work.principal),
            standing_clause(),
            ~unreleased(),
        )
    )
    if search.patient_id is not None:
        query = query.where(DiagnosticRequest.patient_id == search.patient_id)
    if search.statuses:
        ours: list[ReportStatus] = statuses_of(search.statuses, REPORT_STATUS)
        query = query.where(Report.status.in_(ours))
    query = within(query, DiagnosticRequest.created_at, search.dates)
    query = within(query, Report.signed_at, search.updated)
    if (consent := consented(work, DiagnosticRequest.patient_id)) is not None:
        query = query.where(consent)
    rows, total = await page_of(work, query, Report.id.desc(), page)
    work.audit_patients("fhir.report.search", (r.request.patient_id for r in rows))
    return Found(rows, total)


# -- Observation: released lab results and ECG measurements --


@dataclass(frozen=True)
class ObservationSearch:
    patient_id: int | None = None
    categories: tuple[str, ...] = ()
    codes: tuple[tuple[str | None, str], ...] = ()
    """``(system or None, code)`` pairs, any of which matches."""
    dates: tuple[DateBound, ...] = field(default_factory=tuple)
    updated: tuple[DateBound, ...] = ()


RELEASED = (ResultStatus.FINAL, ResultStatus.CORRECTED)
ECG_CODES = frozenset({ECG_PANEL[0]} | {code for code, _, _ in ECG_MEASURES.values()})


async def read_observation(work: Work, source: str, row_id: int) -> Json:
    """A released lab result or an ECG's measurements, if the caller may read its request."""
    if source == ECG_PREFIX:
        ecg = await readable_child(work, EcgRecording, row_id, "fhir.observation.read", "ECG")
        return ecg_observation(ecg)
    result = await work.session.get(LabResult, row_id)
    order = None if result is None else await work.session.get(LabOrder, result.order_id)
    if result is None or order is None or result.status not in RELEASED:
        raise NotFound(f"no observation {source}-{row_id}")
    try:
        await readable_request(work, order.request_id, "fhir.observation.read")
    except NotFound:
        raise NotFound(f"no observation {source}-{row_id}") from None
    system = await work.session.scalar(
        select(LabTest.system).where(LabTest.code == result.test_code)
    )
    return lab_observation(result, request_id=order.request_id, system=system)


def _lab_code_clause(system: str | None, code: str) -> ColumnElement[bool]:
    same = LabResult.test_code == code
    if system is None:
        return same
    if system == LOINC:
        return and_(same, LabTest.system == "LN")
    if system == LOCAL_TEST_SYSTEM:
        return and_(same, or_(LabTest.system.is_(None), LabTest.system != "LN"))
    return false()


def _lab_query(work: Work, search: ObservationSearch) -> Select[Any]:
    query: Select[Any] = (
        select(LabResult, LabOrder.request_id, LabTest.system)  # type: ignore[assignment]
        .join(LabOrder, LabOrder.id == LabResult.order_id)
        .join(DiagnosticRequest, DiagnosticRequest.id == LabOrder.request_id)
        .outerjoin(LabTest, LabTest.code == LabResult.test_code)
        .where(
            request_clause(work.principal),
            LabResult.status.in_(RELEASED),
            LabResult.released_at.is_not(None),
        )
    )
    if search.patient_id is not None:
        query = query.where(LabResult.patient_id == search.patient_id)
    if search.codes:
        query = query.where(or_(*(_lab_code_clause(s, c) for s, c in search.codes)))
    query = within(query, LabResult.observed_at, search.dates)
    query = within(query, LabResult.released_at, search.updated)
    if (consent := consented(work, DiagnosticRequest.patient_id)) is not None:
        query = query.where(consent)
    return query


def _ecg_query(work: Work, search: ObservationSearch) -> Select[Any] | None:
    if search.codes and not any(
        system in (None, LOINC) and code in ECG_CODES for system, code in search.codes
    ):
        return None
    query = (
        select(EcgRecording)
        .join(DiagnosticRequest, DiagnosticRequest.id == EcgRecording.request_id)
        .where(request_clause(work.principal))
    )
    if search.patient_id is not None:
        query = query.where(EcgRecording.patient_id == search.patient_id)
    query = within(query, EcgRecording.uploaded_at, search.dates)
    query = within(query, EcgRecording.uploaded_at, search.updated)
    if (consent := consented(work, DiagnosticRequest.patient_id)) is not None:
        query = query.where(consent)
    return query


async def _count(work: Work, query: Select[Any] | None) -> int:
    if query is None:
        return 0
    total = await work.session.scalar(select(func.count()).select_from(query.subquery()))
    return int(total or 0)


async def concat(
    work: Work, parts: Sequence[tuple[Select[Any] | None, Any]], page: Page
) -> tuple[list[list[Any]], int]:
    """One page through several queries in a row (each ``(query or None, order)``): the rows of
    each part that fall on the page, and the number of all matches."""
    totals = [await _count(work, query) for query, _ in parts]
    found: list[list[Any]] = []
    skip, room = page.offset, page.count
    for (query, order), total in zip(parts, totals, strict=True):
        rows: list[Any] = []
        if query is not None and room > 0 and skip < total:
            result = await work.session.execute(query.order_by(order).offset(skip).limit(room))
            rows = list(result.all())
            room -= len(rows)
        skip = max(0, skip - total)
        found.append(rows)
    return found, sum(totals)


async def search_observations(work: Work, search: ObservationSearch, page: Page) -> Found[Json]:
    """Lab results first (by id), then ECGs (by id): one stable order to page through."""
    wants = set(search.categories) or {"laboratory", "procedure"}
    lab = _lab_query(work, search) if "laboratory" in wants else None
    ecg = _ecg_query(work, search) if "procedure" in wants else None
    (labs, ecgs), total = await concat(work, [(lab, LabResult.id), (ecg, EcgRecording.id)], page)
    found = [lab_observation(r, request_id=q, system=s) for r, q, s in labs]
    found += [ecg_observation(recording) for (recording,) in ecgs]
    patients = [r.patient_id for r, _, _ in labs] + [e.patient_id for (e,) in ecgs]
    work.audit_patients("fhir.observation.search", patients)
    return Found(found, total)
