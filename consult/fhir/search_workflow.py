"""Reads and searches of Task, Encounter, referrals (ServiceRequest, Appointment) and
ImagingStudy, with the scoping, consent rule and audit of :mod:`consult.fhir.search`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from consult.access import readable_request
from consult.center import Work
from consult.errors import NotFound
from consult.fhir import search
from consult.fhir.params import MAX_COUNT, MAX_OFFSET, DateBound, Page
from consult.fhir.resources import REQUEST_STATUS, Json, service_request
from consult.fhir.search import Found, RecordSearch, consented, page_of, requests_query, within
from consult.fhir.studies import imaging_study
from consult.fhir.workflow import (
    APPOINTMENT_STATUS,
    REFERRAL_STATUS,
    TASK_STATUS,
    appointment,
    encounter,
    encounter_status,
    referral_request,
    task,
)
from consult.models import CapacitySlot, Department, DiagnosticRequest, Institution, Referral, User
from consult.referrals import referral_clause
from consult.vocab import RequestKind, RequestStatus
from imaging.index import ImagingSeries, ImagingStudy
from imaging.query import principal_scope

# -- Task and Encounter: views of one request --


async def _performers(work: Work, rows: Iterable[DiagnosticRequest]) -> dict[int, User]:
    ids = {r.performer_id for r in rows if r.performer_id is not None}
    if not ids:
        return {}
    users = await work.session.scalars(select(User).where(User.id.in_(ids)))
    return {u.id: u for u in users}


async def _with_performers(work: Work, rows: list[DiagnosticRequest], to: Any) -> list[Json]:
    performers = await _performers(work, rows)
    return [to(r, performers.get(r.performer_id or 0)) for r in rows]


async def read_task(work: Work, request_id: int) -> Json:
    row = await readable_request(work, request_id, "fhir.task.read")
    return (await _with_performers(work, [row], task))[0]


async def search_tasks(work: Work, wanted: RecordSearch, page: Page) -> Found[Json]:
    query = requests_query(work, wanted, TASK_STATUS)
    rows, total = await page_of(work, query, DiagnosticRequest.id.desc(), page)
    work.audit_patients("fhir.task.search", (r.patient_id for r in rows))
    return Found(await _with_performers(work, rows, task), total)


ENCOUNTER_OF = {
    "planned": (RequestStatus.REQUESTED, RequestStatus.ACCEPTED, RequestStatus.ON_HOLD),
    "in-progress": (RequestStatus.IN_PROGRESS, RequestStatus.ON_HOLD),
    "finished": (RequestStatus.IN_PROGRESS, RequestStatus.COMPLETED),
    "cancelled": (RequestStatus.CANCELLED, RequestStatus.REJECTED),
}
"""The request states each Encounter status can come from (the room's log decides among them)."""


async def read_encounter(work: Work, request_id: int) -> Json:
    row = await readable_request(work, request_id, "fhir.encounter.read")
    if row.kind is not RequestKind.VIDEO_CONSULT:
        raise NotFound(f"no encounter {request_id}")
    return (await _with_performers(work, [row], encounter))[0]


async def search_encounters(work: Work, wanted: RecordSearch, page: Page) -> Found[Json]:
    """Video consults; a status filter is the request's state refined by the room's log, so it
    is applied after the SQL, to at most ``MAX_OFFSET + MAX_COUNT`` consults (newest first)."""
    plain = RecordSearch(
        patient_id=wanted.patient_id,
        dates=wanted.dates,
        updated=wanted.updated,
        identifier=wanted.identifier,
    )
    query = requests_query(work, plain, REQUEST_STATUS).where(
        DiagnosticRequest.kind == RequestKind.VIDEO_CONSULT
    )
    if wanted.statuses:
        states = {s for code in wanted.statuses for s in ENCOUNTER_OF[code]}
        query = query.where(DiagnosticRequest.status.in_(states))
        every = list(
            await work.session.scalars(
                query.order_by(DiagnosticRequest.id.desc()).limit(MAX_OFFSET + MAX_COUNT)
            )
        )
        matching = [r for r in every if encounter_status(r) in wanted.statuses]
        rows, total = matching[page.offset : page.offset + page.count], len(matching)
    else:
        rows, total = await page_of(work, query, DiagnosticRequest.id.desc(), page)
    work.audit_patients("fhir.encounter.search", (r.patient_id for r in rows))
    return Found(await _with_performers(work, rows, encounter), total)


# -- referrals: ServiceRequest (category referral) and Appointment --


@dataclass(frozen=True)
class ReferralSearch:
    patient_id: int | None = None
    statuses: tuple[str, ...] = ()
    dates: tuple[DateBound, ...] = field(default_factory=tuple)
    updated: tuple[DateBound, ...] = ()
    booked_only: bool = False


def referral_updated_at() -> Any:
    """SQL for the referral's last change (its latest stamp; stamps only ever move forward)."""
    return func.coalesce(
        Referral.back_referred_at,
        Referral.closed_at,
        Referral.arrived_at,
        Referral.accepted_at,
        Referral.opened_at,
    )


def referrals_query(work: Work, wanted: ReferralSearch, statuses: dict[Any, str]) -> Select[Any]:
    query = select(Referral).where(referral_clause(work))  # type: ignore[arg-type]
    if wanted.patient_id is not None:
        query = query.where(Referral.patient_id == wanted.patient_id)
    if wanted.statuses:
        query = query.where(Referral.status.in_(search.statuses_of(wanted.statuses, statuses)))
    if wanted.booked_only:
        query = query.where(
            Referral.slot_at.is_not(None), Referral.status.in_(list(APPOINTMENT_STATUS))
        )
    query = within(
        query, Referral.slot_at if wanted.booked_only else Referral.opened_at, wanted.dates
    )
    return within(query, referral_updated_at(), wanted.updated)


async def _referral_parts(
    work: Work, rows: list[Referral]
) -> tuple[dict[int, Institution], dict[int, Department], dict[int, CapacitySlot]]:
    async def by_id(model: Any, ids: set[int]) -> dict[int, Any]:
        if not ids:
            return {}
        found: Iterable[Any] = await work.session.scalars(select(model).where(model.id.in_(ids)))
        return {row.id: row for row in found}

    return (
        await by_id(Institution, {r.from_institution_id for r in rows}),
        await by_id(Department, {r.to_department_id for r in rows}),
        await by_id(CapacitySlot, {r.slot_id for r in rows if r.slot_id is not None}),
    )


async def referral_resources(work: Work, rows: list[Referral]) -> list[Json]:
    institutions, departments, _ = await _referral_parts(work, rows)
    return [
        referral_request(r, institutions[r.from_institution_id], departments[r.to_department_id])
        for r in rows
    ]


async def appointment_resources(work: Work, rows: list[Referral]) -> list[Json]:
    _, departments, slots = await _referral_parts(work, rows)
    return [
        appointment(r, slots.get(r.slot_id or 0), departments[r.to_department_id]) for r in rows
    ]


async def _one_referral(work: Work, referral_id: int, action: str, booked: bool) -> Referral:
    query = referrals_query(work, ReferralSearch(booked_only=booked), {})
    row = await work.session.scalar(query.where(Referral.id == referral_id))
    if row is None:
        work.deny(action, obj=("referral", referral_id))
        raise NotFound(f"no referral {referral_id}")
    work.audit(action, patient_id=row.patient_id, obj=("referral", row.id))
    return row


async def read_referral(work: Work, referral_id: int) -> Json:
    row = await _one_referral(work, referral_id, "fhir.referral.read", booked=False)
    return (await referral_resources(work, [row]))[0]


async def read_appointment(work: Work, referral_id: int) -> Json:
    row = await _one_referral(work, referral_id, "fhir.appointment.read", booked=True)
    return (await appointment_resources(work, [row]))[0]


async def search_appointments(work: Work, wanted: ReferralSearch, page: Page) -> Found[Json]:
    query = referrals_query(work, wanted, APPOINTMENT_STATUS)
    rows, total = await page_of(work, query, Referral.id.desc(), page)
    work.audit_patients("fhir.appointment.search", (r.patient_id for r in rows))
    return Found(await appointment_resources(work, rows), total)


async def search_service_requests(
    work: Work, wanted: RecordSearch, categories: tuple[str, ...], page: Page
) -> Found[Json]:
    """Requests to the center (category ``diagnostic``), then referrals (``referral``)."""
    wants = set(categories) or {"diagnostic", "referral"}
    orders = requests_query(work, wanted, REQUEST_STATUS) if "diagnostic" in wants else None
    referrals = None
    if "referral" in wants and not wanted.codes and wanted.identifier is None:
        referrals = referrals_query(
            work,
            ReferralSearch(wanted.patient_id, wanted.statuses, wanted.dates, wanted.updated),
            REFERRAL_STATUS,
        )
    (requests, sent), total = await search.concat(
        work, [(orders, DiagnosticRequest.id.desc()), (referrals, Referral.id.desc())], page
    )
    rows = [r for (r,) in requests]
    referral_rows = [r for (r,) in sent]
    work.audit_patients(
        "fhir.request.search", [r.patient_id for r in rows] + [r.patient_id for r in referral_rows]
    )
    return Found(
        [service_request(r) for r in rows] + await referral_resources(work, referral_rows), total
    )


# -- ImagingStudy --


@dataclass(frozen=True)
class StudySearch:
    patient_id: int | None = None
    identifier: str | None = None
    modalities: tuple[str, ...] = ()
    updated: tuple[DateBound, ...] = ()
    dates: tuple[DateBound, ...] = ()
    """``started``, compared by day with the study date (the center's zone)."""


def _day(moment: dt.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y%m%d")


def _day_clause(bound: DateBound, tz: ZoneInfo) -> ColumnElement[bool]:
    """A ``started`` bound on the ``YYYYMMDD`` study date: ``[first, after)`` by whole days."""
    first = _day(bound.start, tz)
    after = _day(bound.end - dt.timedelta(microseconds=1) + dt.timedelta(days=1), tz)
    column = ImagingStudy.study_date
    return {
        "eq": and_(column >= first, column < after),
        "ne": or_(column < first, column >= after),
        "gt": column >= after,
        "ge": column >= first,
        "lt": column < first,
        "le": column < after,
    }[bound.prefix]


def _studies_query(work: Work, wanted: StudySearch, tz: ZoneInfo) -> Select[Any]:
    scope = principal_scope(work.principal)
    query = select(ImagingStudy).where(scope.study, ImagingStudy.patient_id.is_not(None))
    if wanted.patient_id is not None:
        query = query.where(ImagingStudy.patient_id == wanted.patient_id)
    if wanted.identifier is not None:
        system, _, value = wanted.identifier.rpartition("|")
        value = value.strip()
        if system in ("", "urn:dicom:uid") and value.startswith("urn:oid:"):
            query = query.where(ImagingStudy.study_uid == value.removeprefix("urn:oid:"))
        else:
            query = query.where(ImagingStudy.accession_number == value)
    if wanted.modalities:
        query = query.where(or_(*(ImagingStudy.modalities.contains(m) for m in wanted.modalities)))
    for bound in wanted.dates:
        query = query.where(ImagingStudy.study_date != "", _day_clause(bound, tz))
    query = within(query, ImagingStudy.updated_at, wanted.updated)
    if (consent := consented(work, ImagingStudy.patient_id)) is not None:
        query = query.where(consent)
    return query


async def _study_resources(
    work: Work, rows: list[ImagingStudy], tz: ZoneInfo, dicomweb: str
) -> list[Json]:
    series: dict[int, list[ImagingSeries]] = {r.id: [] for r in rows}
    if rows:
        found = await work.session.scalars(
            select(ImagingSeries)
            .where(ImagingSeries.study_id.in_(list(series)))
            .order_by(ImagingSeries.series_number, ImagingSeries.id)
        )
        for s in found:
            series[s.study_id].append(s)
    return [imaging_study(r, series[r.id], tz=tz, dicomweb=dicomweb) for r in rows]


async def read_study(work: Work, study_id: int, tz: ZoneInfo, dicomweb: str) -> Json:
    row = await work.session.scalar(
        _studies_query(work, StudySearch(), tz).where(ImagingStudy.id == study_id)
    )
    if row is None or row.patient_id is None:
        work.deny("fhir.study.read", obj=("imaging_study", study_id))
        raise NotFound(f"no imaging study {study_id}")
    work.audit("fhir.study.read", patient_id=row.patient_id, obj=("imaging_study", row.id))
    return (await _study_resources(work, [row], tz, dicomweb))[0]


async def search_studies(
    work: Work, wanted: StudySearch, page: Page, tz: ZoneInfo, dicomweb: str
) -> Found[Json]:
    rows, total = await page_of(
        work, _studies_query(work, wanted, tz), ImagingStudy.id.desc(), page
    )
    work.audit_patients("fhir.study.search", (r.patient_id for r in rows if r.patient_id))
    return Found(await _study_resources(work, rows, tz, dicomweb), total)
