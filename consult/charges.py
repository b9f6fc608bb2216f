"""Charges: the county's price catalogue, a charge made with each request at the clinic, its
payment (cash, medical insurance, online) or waiver, the refund when a paid request is cancelled,
the clinic's daily list and the monthly settlement between the clinic and the county.

Amounts are integers in fen. Every state change of a charge is a guarded compare-and-set
(:meth:`Lifecycle.claim`), and a refund is unique per charge in the database: of two cancellations
racing, one refunds and the other gets a 409.

A month's figures are the events dated in it (charges made, payments received, waivers, voids and
refunds), in the center's time zone. A month is closed only after it has ended, so no later event
can fall in it; its totals are then stored and read back unchanged.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError

from consult.center import Work
from consult.charges_tables import (
    MAX_FEN,
    Charge,
    ChargeItem,
    ChargeLine,
    ChargeStatus,
    PaymentMethod,
    Refund,
    Settlement,
)
from consult.errors import Conflict, Forbidden, InvalidInput, NotFound
from consult.lifecycle import Lifecycle
from consult.models import DiagnosticRequest
from consult.vocab import RequestKind, Role

logger = logging.getLogger(__name__)

CS = ChargeStatus
TRANSITIONS: dict[ChargeStatus, frozenset[ChargeStatus]] = {
    CS.DUE: frozenset({CS.PAID, CS.WAIVED, CS.VOID}),
    CS.PAID: frozenset({CS.REFUNDED}),
    CS.WAIVED: frozenset(),
    CS.REFUNDED: frozenset(),
    CS.VOID: frozenset(),
}
LIFECYCLE = Lifecycle("charge", TRANSITIONS)

ItemSpec = tuple[str, str, str, RequestKind, int]
"""code, name, English name, request kind, price in fen."""
CORE_ITEMS: tuple[ItemSpec, ...] = (
    ("ECG-12", "十二导联心电图远程诊断", "12-lead ECG remote read", RequestKind.ECG_READ, 2500),
    ("ECG-HOLTER", "动态心电图远程诊断", "Holter ECG remote read", RequestKind.ECG_READ, 15000),
    ("IMG-DR", "DR 摄片远程诊断", "DR radiograph remote read", RequestKind.IMAGING_READ, 3000),
    ("IMG-CT", "CT 远程诊断", "CT remote read", RequestKind.IMAGING_READ, 8000),
    ("IMG-MR", "磁共振远程诊断", "MRI remote read", RequestKind.IMAGING_READ, 12000),
    ("IMG-US", "超声远程诊断", "Ultrasound remote read", RequestKind.IMAGING_READ, 4000),
    (
        "CONSULT-VIDEO",
        "远程视频会诊",
        "Remote video consultation",
        RequestKind.VIDEO_CONSULT,
        10000,
    ),
)
IMAGING_ITEM = {"CT": "IMG-CT", "MR": "IMG-MR", "US": "IMG-US", "DX": "IMG-DR", "CR": "IMG-DR"}
"""The DICOM modality of an imaging request (``details.modality``) to its item."""
LAB_PREFIX = "LAB-"
"""Lab tests are priced per orderable code: ``LAB-<LOINC or local code>``."""
PAY_ROLES = frozenset({Role.TOWNSHIP_DOCTOR, Role.VILLAGE_DOCTOR})
READ_ROLES = PAY_ROLES | {Role.ADMIN}
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _refuse(message_zh: str, message_en: str) -> Forbidden:
    return Forbidden(f"{message_zh} / {message_en}")


# -- the catalogue ---------------------------------------------------------------------------


async def seed(work: Work, extra: Iterable[ItemSpec] = ()) -> None:
    """Load the core items and ``extra`` (the lab's tests) into an empty catalogue."""
    if await work.session.scalar(select(ChargeItem.id).limit(1)) is not None:
        return
    work.session.add_all(
        ChargeItem(code=c, name=n, name_en=en, kind=k, price_fen=p, updated_at=work.now)
        for c, n, en, k, p in (*CORE_ITEMS, *extra)
    )
    await work.session.flush()


async def list_items(work: Work) -> list[ChargeItem]:
    return list(
        await work.session.scalars(select(ChargeItem).order_by(ChargeItem.kind, ChargeItem.code))
    )


async def set_price(work: Work, code: str, price_fen: int, active: bool = True) -> ChargeItem:
    """The county administrator changes an item's price (charges already made keep theirs)."""
    if work.principal.role is not Role.ADMIN:
        work.deny("charge.item.edit", item=code)
        raise _refuse("价格目录由县级管理员维护", "the price catalogue is edited by administrators")
    check_fen(price_fen, "price_fen")
    item = await work.session.scalar(select(ChargeItem).where(ChargeItem.code == code))
    if item is None:
        raise NotFound(f"没有该收费项目 / no such item: {code}")
    item.price_fen, item.active, item.updated_at = price_fen, active, work.now
    work.audit("charge.item.edit", obj=("charge_item", item.id), price_fen=price_fen)
    return item


def check_fen(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FEN:
        raise InvalidInput(f"金额超出范围 / {name} must be an integer 0..{MAX_FEN} fen", field=name)


def item_codes(request: DiagnosticRequest) -> list[str]:
    """The catalogue items a request is charged for."""
    details = request.details or {}
    if request.kind is RequestKind.LAB_TEST:
        return [f"{LAB_PREFIX}{c}" for c in dict.fromkeys(details.get("tests") or [])]
    if request.kind is RequestKind.IMAGING_READ:
        return [IMAGING_ITEM.get(str(details.get("modality", "")).upper(), "IMG-DR")]
    if request.kind is RequestKind.ECG_READ:
        return ["ECG-HOLTER" if details.get("long_ecg") else "ECG-12"]
    return ["CONSULT-VIDEO"]


# -- the charge of a request -----------------------------------------------------------------


async def create_for(work: Work, request: DiagnosticRequest) -> Charge | None:
    """Make the charge of a new request (in the request's transaction) at today's prices.

    A request none of whose items is priced (an empty catalogue) is not charged.
    """
    codes = item_codes(request)
    items = {
        i.code: i
        for i in await work.session.scalars(
            select(ChargeItem).where(ChargeItem.code.in_(codes), ChargeItem.active.is_(True))
        )
    }
    lines = [
        ChargeLine(
            item_code=c,
            name=items[c].name,
            name_en=items[c].name_en,
            unit_fen=items[c].price_fen,
            quantity=1,
            amount_fen=items[c].price_fen,
        )
        for c in codes
        if c in items
    ]
    if not lines:
        logger.info("request %s: no priced item among %s, not charged", request.identifier, codes)
        return None
    await _refuse_closed(work, request.requesting_institution_id)
    charge = Charge(
        request_id=request.id,
        institution_id=request.requesting_institution_id,
        patient_id=request.patient_id,
        status=ChargeStatus.DUE,
        amount_fen=sum(line.amount_fen for line in lines),
        created_at=work.now,
        updated_at=work.now,
        lines=lines,
    )
    work.session.add(charge)
    await work.session.flush()
    work.audit("charge.create", patient_id=request.patient_id, obj=("charge", charge.id))
    return charge


async def _own_charge(work: Work, charge_id: int, action: str) -> Charge:
    """A charge of the caller's own institution; any other is not found (never tell which)."""
    if work.principal.role not in PAY_ROLES:
        work.deny(action, obj=("charge", charge_id))
        raise _refuse("收费由乡镇卫生院工作人员登记", "payments are recorded by the clinic's staff")
    charge = await work.session.get(Charge, charge_id)
    if charge is None or charge.institution_id != work.principal.institution_id:
        work.deny(action, obj=("charge", charge_id))
        raise NotFound(f"没有该收费记录 / no such charge: {charge_id}")
    return charge


async def record_payment(
    work: Work, charge_id: int, method: PaymentMethod, amount_fen: int, reference: str = ""
) -> Charge:
    """The clinic records the patient's payment of the whole amount due."""
    charge = await _own_charge(work, charge_id, "charge.pay")
    check_fen(amount_fen, "amount_fen")
    reference = reference.strip()
    if method is not PaymentMethod.CASH and not reference:
        raise InvalidInput(
            "医保结算号或线上支付流水号必填 / an insurance or online payment needs its reference",
            field="reference",
        )
    if amount_fen != charge.amount_fen:
        raise InvalidInput(
            f"金额与应收不符 / amount {amount_fen} fen is not the {charge.amount_fen} fen due",
            field="amount_fen",
        )
    await _refuse_closed(work, charge.institution_id)
    await _claim(
        work,
        charge,
        CS.PAID,
        method=method,
        reference=reference,
        paid_at=work.now,
        paid_by=work.principal.user_id,
    )
    work.audit(
        "charge.pay", patient_id=charge.patient_id, obj=("charge", charge.id), method=str(method)
    )
    return charge


async def waive(work: Work, charge_id: int, reason: str) -> Charge:
    """The clinic waives a charge (减免), with a reason; who and when are kept."""
    charge = await _own_charge(work, charge_id, "charge.waive")
    if not reason.strip():
        raise InvalidInput("减免需要说明原因 / a waiver needs a reason", field="reason")
    await _refuse_closed(work, charge.institution_id)
    await _claim(
        work,
        charge,
        CS.WAIVED,
        waived_at=work.now,
        waived_by=work.principal.user_id,
        waive_reason=reason.strip()[:500],
    )
    work.audit("charge.waive", patient_id=charge.patient_id, obj=("charge", charge.id))
    return charge


async def on_cancel(work: Work, request: DiagnosticRequest, reason: str) -> Refund | None:
    """A request was cancelled (or rejected): void its unpaid charge or refund its paid one.

    Called in the cancellation's transaction, after its guarded status change.
    """
    charge = await work.session.scalar(select(Charge).where(Charge.request_id == request.id))
    if charge is None or charge.status not in (CS.DUE, CS.PAID):
        return None
    await _refuse_closed(work, charge.institution_id)
    if charge.status is CS.DUE:
        await _claim(work, charge, CS.VOID, voided_at=work.now)
        return None
    await _claim(work, charge, CS.REFUNDED)
    assert charge.method is not None  # a paid charge has its method
    refund = Refund(
        charge_id=charge.id,
        institution_id=charge.institution_id,
        amount_fen=charge.amount_fen,
        method=charge.method,
        reason=reason.strip()[:500],
        created_at=work.now,
        created_by=work.principal.user_id or None,
    )
    work.session.add(refund)
    try:
        await work.session.flush()
    except IntegrityError:  # the refund's unique charge: another cancellation refunded it
        raise Conflict("该收费已退款 / the charge was already refunded", code="refunded") from None
    work.audit("charge.refund", patient_id=charge.patient_id, obj=("charge", charge.id))
    logger.info("charge %s refunded %s fen (%s)", charge.id, refund.amount_fen, refund.method)
    return refund


async def _claim(work: Work, charge: Charge, new: ChargeStatus, **values: object) -> None:
    await LIFECYCLE.claim(
        work.session,
        charge,
        new,
        work.now,
        code="charge_changed",
        message=f"收费记录已被他人更改 / charge {charge.id} was changed by someone else",
        **values,
    )


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


def zone(work: Work) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(work.policy.timezone)


def institution_for(work: Work, institution_id: int | None) -> int:
    """Whose charges the caller reads: a clinic its own; the county administrator any."""
    role = work.principal.role
    if role in PAY_ROLES:
        if institution_id not in (None, work.principal.institution_id):
            work.deny("charge.read", institution=institution_id)
            raise NotFound(f"没有该机构 / no such institution: {institution_id}")
        return work.principal.institution_id
    if role is Role.ADMIN or (role is Role.SUPERVISOR and institution_id is not None):
        if institution_id is None:
            raise InvalidInput("请指定机构 / institution_id is required", field="institution_id")
        return institution_id
    work.deny("charge.read", institution=institution_id)
    raise _refuse("无权查看收费", "charges are read by the clinic and the county administrator")


async def daily(work: Work, institution_id: int | None, day: dt.date | None) -> Daily:
    """The charges an institution made on ``day`` (default today), with the day's money."""
    if work.principal.role is Role.SUPERVISOR:
        raise _refuse("监管账号只能查看统计数据", "the supervisor reads aggregates only")
    inst = institution_for(work, institution_id)
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


def _sum(column: ColumnElement[int]) -> ColumnElement[int]:
    return func.coalesce(func.sum(column), 0)


def _between(
    column: ColumnElement[dt.datetime], start: dt.datetime, end: dt.datetime
) -> ColumnElement[bool]:
    return (column >= start) & (column < end)


async def _money(work: Work, inst: int, start: dt.datetime, end: dt.datetime) -> Money:
    own = Charge.institution_id == inst
    charged = (
        await work.session.execute(
            select(_sum(Charge.amount_fen), func.count(Charge.id)).where(
                own, _between(Charge.created_at, start, end)
            )
        )
    ).one()

    async def total(when: ColumnElement[dt.datetime]) -> int:
        return int(
            await work.session.scalar(
                select(_sum(Charge.amount_fen)).where(own, _between(when, start, end))
            )
            or 0
        )

    refunded = await work.session.scalar(
        select(_sum(Refund.amount_fen)).where(
            Refund.institution_id == inst, _between(Refund.created_at, start, end)
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


async def _due_at(work: Work, inst: int, when: dt.datetime) -> int:
    """What was owed at ``when``: charges made before it and not yet paid, waived or voided."""
    left = func.coalesce(Charge.paid_at, Charge.waived_at, Charge.voided_at)
    value = await work.session.scalar(
        select(_sum(Charge.amount_fen)).where(
            Charge.institution_id == inst,
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


async def settlement(work: Work, institution_id: int | None, month: str) -> dict[str, object]:
    """The month's settlement of an institution with the county: stored if closed, else live."""
    inst = institution_for(work, institution_id)
    start, end = month_bounds(work, month)
    closed = await _closed(work, inst, month)
    if closed is not None:
        return {**closed.totals, "closed": True, "closed_at": closed.closed_at.isoformat()}
    totals = await compute(work, inst, month, start, end)
    work.audit("charge.settlement.read", institution=inst, month=month)
    return {**totals, "closed": False, "closed_at": None}


async def compute(
    work: Work, inst: int, month: str, start: dt.datetime, end: dt.datetime
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
    work: Work, inst: int, start: dt.datetime, end: dt.datetime
) -> list[dict[str, object]]:
    """Per catalogue item: how many and how much were charged and refunded in the month."""

    async def grouped(when: ColumnElement[bool], refunds: bool) -> dict[str, tuple[int, int]]:
        query = select(
            ChargeLine.item_code, _sum(ChargeLine.quantity), _sum(ChargeLine.amount_fen)
        ).join(Charge, Charge.id == ChargeLine.charge_id)
        if refunds:
            query = query.join(Refund, Refund.charge_id == Charge.id)
        query = query.where(Charge.institution_id == inst, when).group_by(ChargeLine.item_code)
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
    work: Work, inst: int, start: dt.datetime, end: dt.datetime
) -> list[dict[str, object]]:
    paid = dict(
        (m, (int(n), int(s)))
        for m, n, s in (
            await work.session.execute(
                select(Charge.method, func.count(Charge.id), _sum(Charge.amount_fen))
                .where(Charge.institution_id == inst, _between(Charge.paid_at, start, end))
                .group_by(Charge.method)
            )
        ).all()
    )
    refunded = dict(
        (m, (int(n), int(s)))
        for m, n, s in (
            await work.session.execute(
                select(Refund.method, func.count(Refund.id), _sum(Refund.amount_fen))
                .where(Refund.institution_id == inst, _between(Refund.created_at, start, end))
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


async def _closed(work: Work, inst: int, month: str) -> Settlement | None:
    return await work.session.scalar(
        select(Settlement).where(Settlement.institution_id == inst, Settlement.month == month)
    )


async def close(work: Work, institution_id: int, month: str) -> dict[str, object]:
    """The county administrator closes an ended month: its totals are stored and never change."""
    if work.principal.role is not Role.ADMIN:
        work.deny("charge.settlement.close", institution=institution_id, month=month)
        raise _refuse("月结由县级管理员办理", "months are closed by the county administrator")
    start, end = month_bounds(work, month)
    if work.now < end:
        raise Conflict(f"月份未结束 / the month {month} has not ended", code="month_open")
    if await _closed(work, institution_id, month) is not None:
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


async def _refuse_closed(work: Work, inst: int) -> None:
    """No event may fall in a closed month (a clock set back after the month was closed)."""
    month = work.now.astimezone(zone(work)).strftime("%Y-%m")
    if await _closed(work, inst, month) is not None:
        raise Conflict(f"该月已结算，不能再更改 / {month} is closed", code="month_closed")
