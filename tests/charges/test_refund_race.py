"""Two cancellations of one paid request racing: one wins and refunds, the other gets a 409, and
the charge has exactly one refund; both backends."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from consult.charges_tables import Charge, ChargeStatus, Refund
from tests.conftest import Api
from tests.core.helpers import new_patient

ROUNDS = 3


@pytest.mark.both_backends  # one owner under concurrency
async def test_racing_cancellations_refund_once(api: Api) -> None:
    township = await api.login("dr-township")
    patient = await new_patient(township, "吴退款")
    ids = []
    for _ in range(ROUNDS):
        body = {"patient_id": patient["id"], "kind": "ecg_read"}
        ids.append((await township.post("/api/v1/requests", body)).ok()["id"])
    rows = {
        r["charge"]["request_id"]: r["charge"]
        for r in (await township.get("/api/v1/charges/daily")).ok()["rows"]
    }
    for request_id in ids:
        charge = rows[request_id]
        pay = {"method": "cash", "amount_fen": charge["amount_fen"]}
        (await township.post(f"/api/v1/charges/{charge['id']}/payment", pay)).ok()

    for request_id in ids:
        path = f"/api/v1/requests/{request_id}/cancel"
        results = await asyncio.gather(
            township.post(path, {"reason": "患者离开"}), township.post(path, {"reason": "重复申请"})
        )
        assert sorted(r.status for r in results) == [200, 409], [r.body for r in results]

    async with api.center.work() as work:
        charges = (
            await work.session.scalars(select(Charge).where(Charge.request_id.in_(ids)))
        ).all()
        refunds = await work.session.scalar(
            select(func.count(Refund.id)).where(Refund.charge_id.in_([c.id for c in charges]))
        )
    assert refunds == ROUNDS
    assert {c.status for c in charges} == {ChargeStatus.REFUNDED}
    month = (await township.get("/api/v1/charges/settlement")).ok()
    assert month["refunded_fen"] == sum(c.amount_fen for c in charges) and month["balanced"]
