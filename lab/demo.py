"""Demo data of the lab center: the catalogue, and one pending complete blood count for a
patient of the first township (placer order DEMO-0001), specimen already received, so that a
LIS can answer it at once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from consult.center import Work
from consult.demo import Demo
from consult.principal import SYSTEM, Principal
from consult.vocab import Role
from lab import catalogue, orders, specimens
from lab.tables import Specimen
from lab.vocab import OrderStatus, SpecimenStatus

DEMO_PLACER = "DEMO-0001"
CBC_PANEL = "58410-2"


async def seed(work: Work, demo: Demo) -> None:
    await catalogue.seed(work)
    township = demo.institutions["th-dongcheng"]
    patient_id = demo.patients["th-dongcheng"][0]
    work.principal = Principal(
        user_id=demo.users["admin"].id,
        username="admin",
        display_name="demo seed",
        role=Role.TOWNSHIP_DOCTOR,
        institution_id=township.id,
        institution_level=township.level,
        clinic_scope=frozenset({township.id}),
    )
    try:
        order = await orders.create(
            work,
            orders.NewOrder(
                patient_id=patient_id,
                tests=[CBC_PANEL],
                clinical_question="乏力两周，查血常规",
                placer_number=DEMO_PLACER,
            ),
        )
    finally:
        work.principal = SYSTEM
    collected = work.now - dt.timedelta(hours=2)
    for row in await work.session.scalars(select(Specimen).where(Specimen.order_id == order.id)):
        specimens.set_status(row, SpecimenStatus.COLLECTED)
        specimens.set_status(row, SpecimenStatus.RECEIVED)
        row.collected_at, row.collected_by = collected, "东城镇卫生院 护士"
        row.shipped_at = collected + dt.timedelta(minutes=30)
        row.received_at = work.now - dt.timedelta(minutes=20)
    orders.set_status(order, OrderStatus.RECEIVED, work)
