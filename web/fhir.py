"""The FHIR R4 read API under ``/fhir``: thin views over :mod:`consult.fhir`.

The same tokens, cookies and scoping as ``/api/v1`` (the views are :class:`web.api.Call` views);
answers are ``application/fhir+json``; every error is an OperationOutcome (``web.errors``).
Search parameters are strict: an unknown parameter or a malformed value is a 400, not ignored.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiMapping
from yarl import URL

from consult import fhir, jsonguard
from consult.center import Work
from consult.errors import InvalidInput
from consult.fhir import search
from consult.fhir.observations import parse_observation_id
from consult.fhir.resources import REPORT_STATUS, REQUEST_KIND_SYSTEM, Json
from consult.vocab import RequestKind
from web.api import Call, Endpoints
from web.version import app_version

CONTENT_TYPE = "application/fhir+json"
PAGING = frozenset({"_count", "_offset", "_format", "access_token"})
FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
ID = "{id}"
MAX_VALUE = 256
LAST_UPDATED = "_lastUpdated"

endpoints = Endpoints("fhir")


def fhir_response(resource: Json, status: int = 200) -> web.Response:
    body = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
    return web.Response(text=body, status=status, content_type=CONTENT_TYPE, charset="utf-8")


def base_url(request: web.Request) -> str:
    return str(request.url.origin() / "fhir")


def strict_query(call: Call, allowed: set[str]) -> MultiMapping[str]:
    """The query string, checked: only ``allowed`` names (and paging, ``_lastUpdated``)."""
    query = call.request.query
    for name in query:
        if name not in allowed and name not in PAGING and name != LAST_UPDATED:
            raise InvalidInput(
                f"不支持的检索参数 / unsupported search parameter {name!r}", field=name
            )
    for name, value in query.items():
        problem = jsonguard.scalar_problem(value)
        if problem or len(value) > MAX_VALUE:
            why = problem or f"longer than {MAX_VALUE} characters"
            raise InvalidInput(f"参数 {name} 无效 / invalid {name}: {why}", field=name)
    fmt = query.get("_format")
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInput(f"不支持的格式 / unsupported _format {fmt!r}", field="_format")
    return query


def one_value(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise InvalidInput(f"参数 {name} 重复 / {name} given more than once", field=name)
    return values[0] if values else None


def code_list(query: MultiMapping[str], name: str, allowed: set[str]) -> tuple[str, ...]:
    value = one_value(query, name)
    if value is None:
        return ()
    codes = tuple(c.strip() for c in value.split(","))
    for code in codes:
        if code not in allowed:
            raise InvalidInput(
                f"参数 {name} 无效 / invalid {name} {code!r}: one of {sorted(allowed)}", field=name
            )
    return codes


def dates_of(call: Call, query: MultiMapping[str], name: str) -> tuple[fhir.DateBound, ...]:
    """Every value of a date parameter (repeated values all apply: a range is ge..&le..)."""
    tz = ZoneInfo(call.center.policy.timezone)
    return tuple(fhir.parse_date(v, tz, name) for v in query.getall(name, []))


def patient_param(query: MultiMapping[str]) -> int | None:
    patient = one_value(query, "patient")
    return None if patient is None else fhir.parse_reference(patient, "Patient", "patient")


def record_search(
    call: Call, date_param: str, statuses: set[str], extra: frozenset[str] = frozenset()
) -> search.RecordSearch:
    """patient, status, a date and ``_lastUpdated``; ``extra`` may add code and identifier."""
    query = strict_query(call, {"patient", "status", date_param, *extra})
    return search.RecordSearch(
        patient_id=patient_param(query),
        statuses=code_list(query, "status", statuses),
        dates=dates_of(call, query, date_param),
        updated=dates_of(call, query, LAST_UPDATED),
        codes=kind_codes(query) if "code" in extra else (),
        identifier=identifier_param(query) if "identifier" in extra else None,
    )


def identifier_param(query: MultiMapping[str]) -> str | None:
    """``[system|]value`` with a value."""
    identifier = one_value(query, "identifier")
    if identifier is not None and not identifier.rpartition("|")[2].strip():
        raise InvalidInput("参数 identifier 为空 / identifier has no value", field="identifier")
    return identifier


def kind_codes(query: MultiMapping[str]) -> tuple[str, ...]:
    """``code`` of a request: one of our request kinds (with our system or none)."""
    kinds = {str(kind) for kind in RequestKind}
    for system, code in code_tokens(query):
        if system not in (None, REQUEST_KIND_SYSTEM) or code not in kinds:
            raise InvalidInput(
                f"参数 code 无效 / invalid code {code!r}: one of {sorted(kinds)}", field="code"
            )
    return tuple(code for _, code in code_tokens(query))


def page_param(call: Call) -> fhir.Page:
    query = call.request.query
    return fhir.parse_count(one_value(query, "_count"), one_value(query, "_offset"))


def searchset(
    call: Call, found: search.Found[Any], page: fhir.Page, to_resource: Callable[[Any], Json]
) -> web.Response:
    url = call.request.url
    clean = url.with_query([(k, v) for k, v in url.query.items() if k != "access_token"])
    self_url = _with_page(clean, page)
    after = page.offset + len(found.rows)
    next_url = (
        _with_page(clean, fhir.Page(page.count, after))
        if after < found.total and after <= fhir.params.MAX_OFFSET
        else None
    )
    previous_url = (
        _with_page(clean, fhir.Page(page.count, max(0, page.offset - page.count)))
        if page.offset > 0
        else None
    )
    resources = [to_resource(row) for row in found.rows]
    return fhir_response(
        fhir.bundle(
            resources,
            total=found.total,
            self_url=self_url,
            next_url=next_url,
            previous_url=previous_url,
            base=base_url(call.request),
        )
    )


def _with_page(url: URL, page: fhir.Page) -> str:
    return str(url.update_query({"_count": str(page.count), "_offset": str(page.offset)}))


def as_is(resource: Json) -> Json:
    return resource


def path_id(call: Call) -> int:
    return fhir.parse_id(call.request.match_info["id"])


@endpoints.get("/fhir/metadata", summary="FHIR CapabilityStatement", public=True)
async def metadata(call: Call) -> web.Response:
    return fhir_response(
        fhir.capability_statement(
            version=app_version(), base=base_url(call.request), date=dt.datetime.now(dt.UTC)
        )
    )


async def read_by_id(call: Call, read: Callable[[Work, int], Awaitable[Json]]) -> web.Response:
    """A FHIR read: the resource of the path's id, read in one unit of work."""
    resource_id = path_id(call)
    async with call.work() as work:
        return fhir_response(await read(work, resource_id))


@endpoints.get(f"/fhir/Patient/{ID}", summary="FHIR Patient read (audited; consent as the API)")
async def read_patient(call: Call) -> web.Response:
    return await read_by_id(call, search.read_patient)


@endpoints.get("/fhir/Patient", summary="FHIR Patient search: identifier, name")
async def search_patients(call: Call) -> web.Response:
    query = strict_query(call, {"identifier", "name"})
    wanted = search.PatientSearch(
        identifier=one_value(query, "identifier"),
        name=one_value(query, "name"),
        updated=dates_of(call, query, LAST_UPDATED),
    )
    if wanted.name is not None and not wanted.name.strip():
        raise InvalidInput("参数 name 为空 / name must not be empty", field="name")
    page = page_param(call)
    async with call.work() as work:
        found = await search.search_patients(work, wanted, page)
        return searchset(call, found, page, as_is)


@endpoints.get(f"/fhir/DiagnosticReport/{ID}", summary="FHIR DiagnosticReport read (signed)")
async def read_report(call: Call) -> web.Response:
    report_id = path_id(call)
    async with call.work() as work:
        return fhir_response(fhir.diagnostic_report(await search.read_report(work, report_id)))


@endpoints.get("/fhir/DiagnosticReport", summary="FHIR DiagnosticReport search: patient, status")
async def search_reports(call: Call) -> web.Response:
    wanted = record_search(call, "date", set(REPORT_STATUS.values()))
    page = page_param(call)
    async with call.work() as work:
        found = await search.search_reports(work, wanted, page)
        return searchset(call, found, page, fhir.diagnostic_report)


CATEGORIES = {"laboratory", "procedure"}


def code_tokens(query: MultiMapping[str]) -> tuple[tuple[str | None, str], ...]:
    value = one_value(query, "code")
    if value is None:
        return ()
    tokens = []
    for token in value.split(","):
        system, bar, code = token.strip().rpartition("|")
        if not code or len(code) > 64 or (bar and len(system) > 256):
            raise InvalidInput(f"参数 code 无效 / invalid code {token!r}", field="code")
        tokens.append((system or None, code))
    return tuple(tokens)


@endpoints.get(f"/fhir/Observation/{ID}", summary="FHIR Observation read (lab-<n> or ecg-<n>)")
async def read_observation(call: Call) -> web.Response:
    source, row_id = parse_observation_id(call.request.match_info["id"])
    async with call.work() as work:
        return fhir_response(await search.read_observation(work, source, row_id))


@endpoints.get(
    "/fhir/Observation", summary="FHIR Observation search: patient, category, code, date"
)
async def search_observations(call: Call) -> web.Response:
    query = strict_query(call, {"patient", "category", "code", "date"})
    wanted = search.ObservationSearch(
        patient_id=patient_param(query),
        categories=code_list(query, "category", CATEGORIES),
        codes=code_tokens(query),
        dates=dates_of(call, query, "date"),
        updated=dates_of(call, query, LAST_UPDATED),
    )
    page = page_param(call)
    async with call.work() as work:
        found = await search.search_observations(work, wanted, page)
        return searchset(call, found, page, as_is)
