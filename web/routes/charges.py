"""Charges: the price catalogue, payments and waivers at the clinic, the daily list and the
monthly settlement with the county."""

from __future__ import annotations

from typing import Any

from consult import charges
from consult import settlement as settlements
from consult.charges_tables import Charge, ChargeItem
from web.api import Call, Endpoints
from web.schemas_charges import (
    ChargeOut,
    CloseIn,
    DailyOut,
    DailyQuery,
    ItemOut,
    PaymentIn,
    PriceIn,
    SettlementOut,
    SettlementQuery,
    WaiveIn,
)

endpoints = Endpoints("charges")
CID = r"/api/v1/charges/{id:\d+}"


@endpoints.get(
    "/api/v1/charges/items",
    summary="The county's price catalogue (fen)",
    response=list[ItemOut],
    aggregate=True,
)
async def list_items(call: Call) -> list[ChargeItem]:
    async with call.work() as work:
        return await charges.list_items(work)


@endpoints.patch(
    r"/api/v1/charges/items/{code:[A-Za-z0-9.\-]+}",  # an unknown code is 404
    summary="The administrator sets an item's price",
    body=PriceIn,
    response=ItemOut,
)
async def set_price(call: Call) -> ChargeItem:
    body: PriceIn = call.body
    async with call.work() as work:
        code = call.request.match_info["code"]
        return await charges.set_price(work, code, body.price_fen, body.active)


@endpoints.post(
    CID + "/payment",
    summary="The clinic records the payment of a charge",
    body=PaymentIn,
    response=ChargeOut,
)
async def pay(call: Call) -> Charge:
    body: PaymentIn = call.body
    async with call.work() as work:
        return await charges.record_payment(
            work, call.path_int("id"), body.method, body.amount_fen, body.reference
        )


@endpoints.post(
    CID + "/waive",
    summary="The clinic waives a charge, with a reason",
    body=WaiveIn,
    response=ChargeOut,
)
async def waive(call: Call) -> Charge:
    async with call.work() as work:
        return await charges.waive(work, call.path_int("id"), call.body.reason)


@endpoints.get(
    "/api/v1/charges/daily",
    summary="An institution's charges of one day, with the day's money",
    query=DailyQuery,
    response=DailyOut,
)
async def daily(call: Call) -> settlements.Daily:
    q: DailyQuery = call.query
    async with call.work() as work:
        return await settlements.daily(work, q.institution_id, q.day)


@endpoints.get(
    "/api/v1/charges/settlement",
    summary="A month's settlement of an institution with the county (aggregates only)",
    query=SettlementQuery,
    response=SettlementOut,
    aggregate=True,
)
async def settlement(call: Call) -> dict[str, Any]:
    q: SettlementQuery = call.query
    async with call.work() as work:
        return await settlements.settlement(work, q.institution_id, q.month)


@endpoints.post(
    "/api/v1/charges/settlement/close",
    summary="The county administrator closes an ended month (its totals never change)",
    body=CloseIn,
    response=SettlementOut,
)
async def close(call: Call) -> dict[str, Any]:
    body: CloseIn = call.body
    async with call.work() as work:
        return await settlements.close(work, body.institution_id, body.month)
