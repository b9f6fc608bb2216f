"""Diagnostic requests, their lifecycle, and the specialists' worklists."""

from __future__ import annotations

from consult import masking, requests
from consult.center import Work
from consult.models import DiagnosticRequest
from web.api import Call, Endpoints
from web.present import request_out
from web.schemas import ReasonIn, RequestIn, RequestOut, RequestQuery, WorklistQuery

endpoints = Endpoints("requests")
RID = r"/api/v1/requests/{id:\d+}"


async def present_all(work: Work, rows: list[DiagnosticRequest]) -> list[RequestOut]:
    return [
        request_out(v.request, work.now, show_patient=v.shown)
        for v in await masking.views(work, rows)
    ]


@endpoints.get(
    "/api/v1/requests",
    summary="Requests the caller may see, newest first",
    query=RequestQuery,
    response=list[RequestOut],
)
async def list_requests(call: Call) -> list[RequestOut]:
    q: RequestQuery = call.query
    async with call.work() as work:
        rows = await requests.list_visible(
            work,
            kind=q.kind,
            status=q.status,
            patient_id=q.patient_id,
            open_only=q.open,
            limit=q.limit,
        )
        return await present_all(work, rows)


@endpoints.get(
    "/api/v1/worklist",
    summary="A specialist's open requests: critical, priority, deadline",
    query=WorklistQuery,
    response=list[RequestOut],
)
async def worklist(call: Call) -> list[RequestOut]:
    async with call.work() as work:
        return await present_all(work, await requests.worklist(work, call.query.kind))


@endpoints.post(
    "/api/v1/requests",
    summary="Send a request to the county",
    body=RequestIn,
    response=RequestOut,
    status=201,
)
async def create(call: Call) -> RequestOut:
    async with call.work() as work:
        request = await requests.create(work, requests.NewRequest(**call.body.model_dump()))
        await work.session.refresh(request, ["patient", "requesting_institution"])
        return request_out(request, work.now)


@endpoints.get(RID, summary="One request (audited)", response=RequestOut)
async def get(call: Call) -> RequestOut:
    async with call.work() as work:
        return request_out(await requests.get(work, call.path_int("id")), work.now)


@endpoints.post(RID + "/accept", summary="A specialist accepts the request", response=RequestOut)
async def accept(call: Call) -> RequestOut:
    async with call.work() as work:
        return request_out(await requests.accept(work, call.path_int("id")), work.now)


@endpoints.post(RID + "/start", summary="The performer starts work", response=RequestOut)
async def start(call: Call) -> RequestOut:
    async with call.work() as work:
        return request_out(await requests.start(work, call.path_int("id")), work.now)


@endpoints.post(
    RID + "/reject",
    summary="A specialist rejects the request with a reason",
    body=ReasonIn,
    response=RequestOut,
)
async def reject(call: Call) -> RequestOut:
    async with call.work() as work:
        return request_out(
            await requests.reject(work, call.path_int("id"), call.body.reason), work.now
        )


@endpoints.post(
    RID + "/cancel", summary="The requesting clinic cancels", body=ReasonIn, response=RequestOut
)
async def cancel(call: Call) -> RequestOut:
    async with call.work() as work:
        return request_out(
            await requests.cancel(work, call.path_int("id"), call.body.reason), work.now
        )
