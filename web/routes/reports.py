"""Reports: drafts, signing, amendments, the clinic's inbox."""

from __future__ import annotations

from aiohttp import web

from consult import reports
from consult.models import Report
from web import printed
from web.api import Call, Endpoints
from web.present import delivery_out
from web.schemas import AmendIn, DeliveryOut, InboxQuery, ReportIn, ReportOut, ReportPatch

endpoints = Endpoints("reports")
REP = r"/api/v1/reports/{id:\d+}"


@endpoints.post(
    r"/api/v1/requests/{id:\d+}/reports",
    summary="Write (or replace) the draft report",
    body=ReportIn,
    response=ReportOut,
    status=201,
)
async def write_draft(call: Call) -> Report:
    body: ReportIn = call.body
    async with call.work() as work:
        return await reports.write_draft(
            work,
            call.path_int("id"),
            findings=body.findings,
            impression=body.impression,
            data=body.data,
        )


@endpoints.get(
    r"/api/v1/requests/{id:\d+}/reports",
    summary="Every version of a request's report",
    response=list[ReportOut],
)
async def versions(call: Call) -> list[Report]:
    async with call.work() as work:
        return await reports.versions(work, call.path_int("id"))


@endpoints.get(REP, summary="One report version", response=ReportOut)
async def get(call: Call) -> Report:
    async with call.work() as work:
        return await reports.get(work, call.path_int("id"))


@endpoints.patch(REP, summary="Edit a draft", body=ReportPatch, response=ReportOut)
async def patch(call: Call) -> Report:
    body: ReportPatch = call.body
    async with call.work() as work:
        return await reports.update_draft(
            work,
            call.path_int("id"),
            findings=body.findings,
            impression=body.impression,
            data=body.data,
        )


@endpoints.post(
    REP + "/sign",
    summary="Sign: the report becomes final and goes to the clinic",
    response=ReportOut,
)
async def sign(call: Call) -> Report:
    async with call.work() as work:
        return await reports.sign(work, call.path_int("id"))


@endpoints.post(
    REP + "/amend",
    summary="Amend a signed report (a new version; the old one is kept)",
    body=AmendIn,
    response=ReportOut,
    status=201,
)
async def amend(call: Call) -> Report:
    body: AmendIn = call.body
    async with call.work() as work:
        return await reports.amend(
            work,
            call.path_int("id"),
            reason=body.reason,
            findings=body.findings,
            impression=body.impression,
            data=body.data,
        )


@endpoints.post(
    REP + "/read", summary="The clinic marks a delivered report as read", response=DeliveryOut
)
async def mark_read(call: Call) -> DeliveryOut:
    async with call.work() as work:
        return delivery_out(await reports.mark_read(work, call.path_int("id")))


@endpoints.get(
    "/api/v1/inbox",
    summary="Signed reports delivered to the caller's clinic",
    query=InboxQuery,
    response=list[DeliveryOut],
)
async def inbox(call: Call) -> list[DeliveryOut]:
    async with call.work() as work:
        return [delivery_out(d) for d in await reports.inbox(work, unread_only=call.query.unread)]


@endpoints.get(REP + "/pdf", summary="The signed report as PDF, with its verification QR code")
async def pdf(call: Call) -> web.Response:
    return await printed.report_pdf(call)
