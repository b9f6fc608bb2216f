"""Green-channel referrals and the capacity departments publish for them."""

from __future__ import annotations

from typing import Any

from consult import capacity, referrals
from consult.models import Referral, Report
from web.api import Call, Endpoints
from web.schemas import CloseIn, ReasonIn, ReportOut, SummaryIn
from web.schemas_referrals import (
    AcceptIn,
    CapacityOut,
    ReferralIn,
    ReferralOut,
    ReferralQuery,
    SlotIn,
    SlotOut,
    SlotQuery,
)

endpoints = Endpoints("referrals")
REF = r"/api/v1/referrals/{id:\d+}"


@endpoints.post(
    "/api/v1/referrals",
    summary="Open a green-channel referral (409 referral_exists names the open one)",
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
    summary="Referrals the caller may see (a department's desk: its incoming ones)",
    query=ReferralQuery,
    response=list[ReferralOut],
)
async def list_referrals(call: Call) -> list[Referral]:
    async with call.work() as work:
        return await referrals.list_visible(
            work,
            status=call.query.status,
            request_id=call.query.request_id,
            open_only=call.query.open,
        )


@endpoints.get(REF, summary="One referral", response=ReferralOut)
async def get(call: Call) -> Referral:
    async with call.work() as work:
        return await referrals.get(work, call.path_int("id"))


@endpoints.get(REF + "/report", summary="The signed report behind a referral", response=ReportOut)
async def report(call: Call) -> Report:
    async with call.work() as work:
        return await referrals.report_of(work, call.path_int("id"))


@endpoints.post(
    REF + "/accept",
    summary="Accept into a published slot (books one place; 409 slot_full)",
    body=AcceptIn,
    response=ReferralOut,
)
async def accept(call: Call) -> Referral:
    async with call.work() as work:
        return await referrals.accept(work, call.path_int("id"), slot_id=call.body.slot_id)


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
    REF + "/cancel",
    summary="Cancel with a reason (frees a booked slot)",
    body=ReasonIn,
    response=ReferralOut,
)
async def cancel(call: Call) -> Referral:
    async with call.work() as work:
        return await referrals.cancel(work, call.path_int("id"), call.body.reason)


@endpoints.get(
    "/api/v1/capacity",
    summary="Published capacity slots (county staff), with the center's time zone",
    query=SlotQuery,
    response=CapacityOut,
)
async def list_capacity(call: Call) -> dict[str, Any]:
    async with call.work() as work:
        slots = await capacity.list_slots(
            work, department=call.query.department or None, available=call.query.available
        )
        return {"timezone": work.policy.timezone, "slots": slots}


@endpoints.post(
    "/api/v1/capacity",
    summary="Publish a slot (its department's desk, the referral desk, the admin)",
    body=SlotIn,
    response=SlotOut,
    status=201,
)
async def publish(call: Call) -> object:
    async with call.work() as work:
        return await capacity.publish(work, capacity.NewSlot(**call.body.model_dump()))


@endpoints.post(
    r"/api/v1/capacity/{id:\d+}/withdraw",
    summary="Withdraw a slot nobody booked (409 slot_booked)",
    status=204,
)
async def withdraw(call: Call) -> None:
    async with call.work() as work:
        await capacity.withdraw(work, call.path_int("id"))
