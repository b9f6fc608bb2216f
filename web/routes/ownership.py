"""One owner per request: reassignment, holds (a question to the clinic) and answers."""

from __future__ import annotations

from consult import ownership
from consult.models import RequestHold, User
from web.api import Call, Endpoints
from web.present import request_out
from web.schemas import RequestOut
from web.schemas_consult import AnswerIn, HoldIn, HoldOut, PersonOut, ReassignIn

endpoints = Endpoints("requests")
RID = r"/api/v1/requests/{id:\d+}"


@endpoints.post(
    RID + "/reassign",
    summary="Hand the request to another specialist (its assignee or the department head)",
    body=ReassignIn,
    response=RequestOut,
)
async def reassign(call: Call) -> RequestOut:
    body: ReassignIn = call.body
    async with call.work() as work:
        request = await ownership.reassign(work, call.path_int("id"), body.to_user_id, body.reason)
        return request_out(request, work.now)


@endpoints.get(
    RID + "/colleagues",
    summary="Specialists the request can be handed to",
    response=list[PersonOut],
)
async def colleagues(call: Call) -> list[User]:
    async with call.work() as work:
        return await ownership.colleagues(work, call.path_int("id"))


@endpoints.post(
    RID + "/hold",
    summary="The assignee asks the clinic for more information; the request waits",
    body=HoldIn,
    response=HoldOut,
    status=201,
)
async def hold(call: Call) -> RequestHold:
    async with call.work() as work:
        return await ownership.hold(work, call.path_int("id"), call.body.question)


@endpoints.post(
    RID + "/answer",
    summary="The clinic answers the open question; the request resumes",
    body=AnswerIn,
    response=HoldOut,
)
async def answer(call: Call) -> RequestHold:
    async with call.work() as work:
        return await ownership.answer(work, call.path_int("id"), call.body.answer)


@endpoints.get(
    RID + "/holds",
    summary="Questions asked on the request and their answers",
    response=list[HoldOut],
)
async def holds(call: Call) -> list[RequestHold]:
    async with call.work() as work:
        return await ownership.holds(work, call.path_int("id"))
