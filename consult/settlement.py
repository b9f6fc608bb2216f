"""The clinic's daily list of charges and the monthly settlement between the clinic and the county.

A month's figures are the events dated in it, in the center's time zone: charges made, payments
received, waivers, voids and refunds. They balance::

    charged - refunded - waived - voided - (due at the end - due at the start) = net paid

where net paid is the payments received less the refunds. A month is closed only after it has
ended, so no later event can fall in it; its totals are then stored and read back unchanged.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.exc import IntegrityError

from consult.center import Work
from consult.charges import MONTH, closed_month, institution_for, refused, zone
from consult.charges_tables import (
    Charge,
    ChargeItem,
    ChargeLine,
    ChargeStatus,
    PaymentMethod,
    Refund,
    Settlement,
)
from consult.errors import Conflict, InvalidInput
from consult.models import DiagnosticRequest
from consult.vocab import RequestKind, Role

logger = logging.getLogger(__name__)
CS = ChargeStatus
Col = Any
"""A column or an ORM attribute (SQLAlchemy types them apart)."""


# -- the daily list --------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyRow:
    charge: Charge
    request_identifier: str
    kind: RequestKind
    patient_name: str


@dataclass(frozen=True)
class Daily:
    institution_id: int
    day: dt.date
    rows: list[DailyRow]
    charged_fen: int
    paid_fen: int
    refunded_fen: int
    due_fen: int


async def daily(work: Work, institution_id: int | None, day: dt.date | None) -> Daily:
    """The charges an institution made on ``day`` (default today), with the day's money."""
    if work.principal.role is Role.SUPERVISOR:
        raise refused("监管账号只能查看统计数据", "the supervisor reads aggregates only")
    inst = institution_for(work, institution_id)
    if inst is None:
        raise InvalidInput("请指定机构 / institution_id is required", field="institution_id")
    tz = zone(work)
    day = day or work.now.astimezone(tz).date()
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
    end = start + dt.timedelta(days=1)
    query = (
        select(Charge, DiagnosticRequest)
        .join(DiagnosticRequest, DiagnosticRequest.id == Charge.request_id)
        .where(Charge.institution_id == inst, Charge.created_at >= start, Charge.created_at < end)
        .order_by(Charge.id)
    )
    rows = [
        DailyRow(c, r.identifier, r.kind, r.patient.name)
        for c, r in (await work.session.execute(query)).all()
    ]
    totals = await _money(work, inst, start, end)
    work.audit_patients("charge.daily", (r.charge.patient_id for r in rows), institution=inst)
    return Daily(
        inst,
        day,
        rows,
        totals.charged_fen,
        totals.paid_fen,
        totals.refunded_fen,
        sum(r.charge.amount_fen for r in rows if r.charge.status is CS.DUE),
    )


# -- the monthly settlement ------------------------------------------------------------------


@dataclass(frozen=True)
class Money:
    charged_fen: int = 0
    charges: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0
    waived_fen: int = 0
    voided_fen: int = 0


def _of(column: Col, inst: int | None) -> ColumnElement[bool]:
    """Rows of one institution, or of the whole community."""
    return column == inst if inst is not None else true()


def _sum(column: Col) -> ColumnElement[int]:
    return func.coalesce(func.sum(column), 0)


def _between(column: Col, start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    return (column >= start) & (column < end)


async def _money(work: Work, inst: int | None, start: dt.datetime, end: dt.datetime) -> Money:
    own = _of(Charge.institution_id, inst)
    charged = (
        await work.session.execute(
            select(_sum(Charge.amount_fen), func.count(Charge.id)).where(
                own, _between(Charge.created_at, start, end)
            )
        )
    ).one()

    async def total(when: Col) -> int:
        return int(
            await work.session.scalar(
                select(_sum(Charge.amount_fen)).where(own, _between(when, start, end))
            )
            or 0
        )

    refunded = await work.session.scalar(
        select(_sum(Refund.amount_fen)).where(
            _of(Refund.institution_id, inst), _between(Refund.created_at, start, end)
        )
    )
    return Money(
        charged_fen=int(charged[0]),
        charges=int(charged[1]),
        paid_fen=await total(Charge.paid_at),
        refunded_fen=int(refunded or 0),
        waived_fen=await total(Charge.waived_at),
        voided_fen=await total(Charge.voided_at),
    )


async def _due_at(work: Work, inst: int | None, when: dt.datetime) -> int:
    """What was owed at ``when``: charges made before it and not yet paid, waived or voided."""
    left = func.coalesce(Charge.paid_at, Charge.waived_at, Charge.voided_at)
    value = await work.session.scalar(
        select(_sum(Charge.amount_fen)).where(
            _of(Charge.institution_id, inst),
            Charge.created_at < when,
            or_(left.is_(None), left >= when),
        )
    )
    return int(value or 0)


def month_bounds(work: Work, month: str) -> tuple[dt.datetime, dt.datetime]:
    """``YYYY-MM`` to its first instant and the next month's, in UTC (center's time zone)."""
    match = MONTH.match(month)
    if match is None:
        raise InvalidInput(
            f"月份格式应为 YYYY-MM / month must be YYYY-MM: {month!r}", field="month"
        )
    year, mon = int(match[1]), int(match[2])
    if not 2000 <= year <= 2200:
        raise InvalidInput(f"月份超出范围 / month out of range: {month}", field="month")
    tz = zone(work)
    start = dt.datetime(year, mon, 1, tzinfo=tz)
    end = dt.datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


async def settlement(
    work: Work, institution_id: int | None, month: str | None
) -> dict[str, object]:
    """The month's settlement of an institution (or of the community) with the county: stored
    if closed, else live. The default month is the current one."""
    inst = institution_for(work, institution_id)
    month = month or work.now.astimezone(zone(work)).strftime("%Y-%m")
    start, end = month_bounds(work, month)
    closed = await closed_month(work, inst, month) if inst is not None else None
    if closed is not None:
        return {**closed.totals, "closed": True, "closed_at": closed.closed_at.isoformat()}
    totals = await compute(work, inst, month, start, end)
    work.audit("charge.settlement.read", institution=inst, month=month)
    return {**totals, "closed": False, "closed_at": None}


async def compute(
    work: Work, inst: int | None, month: str, start: dt.datetime, end: dt.datetime
) -> dict[str, object]:
    money = await _money(work, inst, start, end)
    due_opening, due_closing = await _due_at(work, inst, start), await _due_at(work, inst, end)
    net = money.paid_fen - money.refunded_fen
    balance = (
        money.charged_fen
        - money.refunded_fen
        - money.waived_fen
        - money.voided_fen
        - (due_closing - due_opening)
        - net
    )
    if balance:  # never: each charge leaves "due" exactly once, a refund only after a payment
        logger.error("settlement %s %s does not balance by %s fen", inst, month, balance)
    return {
        "institution_id": inst,
        "month": month,
        "since": start.isoformat(),
        "until": end.isoformat(),
        "charges": money.charges,
        "charged_fen": money.charged_fen,
        "paid_fen": money.paid_fen,
        "refunded_fen": money.refunded_fen,
        "waived_fen": money.waived_fen,
        "voided_fen": money.voided_fen,
        "due_opening_fen": due_opening,
        "due_closing_fen": due_closing,
        "net_fen": net,
        "balanced": balance == 0,
        "by_item": await _by_item(work, inst, start, end),
        "by_method": await _by_method(work, inst, start, end),
    }


async def _by_item(
    work: Work, inst: int | None, start: dt.datetime, end: dt.datetime
) -> list[dict[str, object]]:
    """Per catalogue item: how many and how much were charged and refunded in the month."""

    async def grouped(when: ColumnElement[bool], refunds: bool) -> dict[str, tuple[int, int]]:
        query = select(
            ChargeLine.item_code, _sum(ChargeLine.quantity), _sum(ChargeLine.amount_fen)
        ).join(Charge, Charge.id == ChargeLine.charge_id)
        if refunds:
            query = query.join(Refund, Refund.charge_id == Charge.id)
        query = query.where(_of(Charge.institution_id, inst), when).group_by(ChargeLine.item_code)
        return {c: (int(n), int(s)) for c, n, s in (await work.session.execute(query)).all()}

    charged = await grouped(_between(Charge.created_at, start, end), False)
    refunded = await grouped(_between(Refund.created_at, start, end), True)
    codes = sorted(set(charged) | set(refunded))
    rows = await work.session.execute(
        select(ChargeItem.code, ChargeItem.name, ChargeItem.name_en).where(
            ChargeItem.code.in_(codes)
        )
    )
    names = {code: (name, en) for code, name, en in rows.all()}
    none = (0, 0)
    return [
        {
            "code": code,
            "name": names.get(code, (code, code))[0],
            "name_en": names.get(code, (code, code))[1],
            "count": charged.get(code, none)[0],
            "charged_fen": charged.get(code, none)[1],
            "refunds": refunded.get(code, none)[0],
            "refunded_fen": refunded.get(code, none)[1],
        }
        for code in codes
    ]


async def _by_method(
    work: Work, inst: int | None, start: dt.datetime, end: dt.datetime
) -> list[dict[str, object]]:
    paid = dict(
        (m, (int(n), int(s)))
        for m, n, s in (
            await work.session.execute(
                select(Charge.method, func.count(Charge.id), _sum(Charge.amount_fen))
                .where(_of(Charge.institution_id, inst), _between(Charge.paid_at, start, end))
                .group_by(Charge.method)
            )
        ).all()
    )
    refunded = dict(
        (m, (int(n), int(s)))
        for m, n, s in (
            await work.session.execute(
                select(Refund.method, func.count(Refund.id), _sum(Refund.amount_fen))
                .where(_of(Refund.institution_id, inst), _between(Refund.created_at, start, end))
                .group_by(Refund.method)
            )
        ).all()
    )
    return [
        {
            "method": str(m),
            "payments": paid.get(m, (0, 0))[0],
            "paid_fen": paid.get(m, (0, 0))[1],
            "refunds": refunded.get(m, (0, 0))[0],
            "refunded_fen": refunded.get(m, (0, 0))[1],
            "net_fen": paid.get(m, (0, 0))[1] - refunded.get(m, (0, 0))[1],
        }
        for m in PaymentMethod
        if m in paid or m in refunded
    ]


async def close(work: Work, institution_id: int, month: str) -> dict[str, object]:
    """The county administrator closes an ended month: its totals are stored and never change."""
    if work.principal.role is not Role.ADMIN:
        work.deny("charge.settlement.close", institution=institution_id, month=month)
        raise refused("月结由县级管理员办理", "months are closed by the county administrator")
    start, end = month_bounds(work, month)
    if work.now < end:
        raise Conflict(f"月份未结束 / the month {month} has not ended", code="month_open")
    if await closed_month(work, institution_id, month) is not None:
        raise Conflict(f"该月已结算 / {month} is already closed", code="month_closed")
    totals = await compute(work, institution_id, month, start, end)
    record = Settlement(
        institution_id=institution_id,
        month=month,
        totals=totals,
        closed_at=work.now,
        closed_by=work.principal.user_id or None,
    )
    work.session.add(record)
    try:
        await work.session.flush()
    except IntegrityError:
        raise Conflict(f"该月已结算 / {month} is already closed", code="month_closed") from None
    work.audit("charge.settlement.close", obj=("settlement", record.id), month=month)
    return {**totals, "closed": True, "closed_at": record.closed_at.isoformat()}
