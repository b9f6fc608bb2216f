"""Green-channel referrals."""

from __future__ import annotations

from consult import referrals
from consult.models import Referral
from web.api import Call, Endpoints
from web.schemas import CloseIn, ReasonIn, ReferralIn, ReferralOut, ReferralQuery, SlotIn, SummaryIn

endpoints = Endpoints("referrals")
REF = r"/api/v1/referrals/{id:\d+}"


@endpoints.post(
    "/api/v1/referrals",
    summary="Open a green-channel referral",
    body=ReferralIn,
    response=ReferralOut,
    status=201,
)
async def open_referral(call: Call) -> Referral:
    async with call.work() as work:
        referral = await referrals.open_referral(
            work, referrals.NewReferral(**call.body.model_dump())
        )
        await work.session.refresh(referral, ["patient"])
        return referral


@endpoints.get(
    "/api/v1/referrals",
    summary="Referrals the caller may see",
    query=ReferralQuery,
    response=list[ReferralOut],
)
async def list_referrals(call: Call) -> list[Referral]:
    async with call.work() as work:
        return await referrals.list_visible(work, status=call.query.status)


@endpoints.get(REF, summary="One referral", response=ReferralOut)
async def get(call: Call) -> Referral:
    async with call.work() as work:
        return await referrals.get(work, call.path_int("id"))


@endpoints.post(
    REF + "/accept",
    summary="The referral desk accepts with a reserved slot",
    body=SlotIn,
    response=ReferralOut,
)
async def accept(call: Call) -> Referral:
    async with call.work() as work:
        return await referrals.accept(
            work, call.path_int("id"), slot_at=call.body.slot_at, slot_place=call.body.slot_place
        )


@endpoints.post(REF + "/arrive", summary="The patient arrived", response=ReferralOut)
async def arrive(call: Call) -> Referral:
    async with call.work() as work:
        return await referrals.arrive(work, call.path_int("id"))


@endpoints.post(
    REF + "/close",
    summary="Close (optionally with the back-referral summary)",
    body=CloseIn,
    response=ReferralOut,
)
async def close(call: Call) -> Referral:
    async with call.work() as work:
        return await referrals.close(work, call.path_int("id"), summary=call.body.summary)


@endpoints.post(
    REF + "/back-referral",
    summary="Send the back-referral to the township",
    body=SummaryIn,
    response=ReferralOut,
)
async def back_refer(call: Call) -> Referral:
    async with call.work() as work:
        return await referrals.back_refer(work, call.path_int("id"), call.body.summary)


@endpoints.post(
    REF + "/cancel", summary="Cancel with a reason", body=ReasonIn, response=ReferralOut
)
async def cancel(call: Call) -> Referral:
    async with call.work() as work:
        return await referrals.cancel(work, call.path_int("id"), call.body.reason)
