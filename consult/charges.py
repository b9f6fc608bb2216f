"""Charges: the county's price catalogue, a charge made with each request at the clinic, its
payment (cash, medical insurance, online) or waiver, the refund when a paid request is cancelled,
the daily list and the monthly settlement (in :mod:`consult.settlement`).

Amounts are integers in fen. Every state change of a charge is a guarded compare-and-set
(:meth:`Lifecycle.claim`), and a refund is unique per charge in the database: of two cancellations
racing, one refunds and the other gets a 409.

No event may be dated in a closed month (:func:`closed_month`).
"""

from __future__ import annotations

import logging
import re
import zoneinfo
from collections.abc import Iterable

from sqlalchemy import select
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
    ("IMG-DR", "数字X线摄片远程诊断", "DR radiograph remote read", RequestKind.IMAGING_READ, 3000),
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


def refused(message_zh: str, message_en: str) -> Forbidden:
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
        raise refused("价格目录由县级管理员维护", "the price catalogue is edited by administrators")
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
        raise refused("收费由乡镇卫生院工作人员登记", "payments are recorded by the clinic's staff")
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


def zone(work: Work) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(work.policy.timezone)


def institution_for(work: Work, institution_id: int | None) -> int | None:
    """Whose charges the caller reads: a clinic its own; the county administrator and the
    supervisor any, or (None) the whole community."""
    role = work.principal.role
    if role in PAY_ROLES:
        if institution_id not in (None, work.principal.institution_id):
            work.deny("charge.read", institution=institution_id)
            raise NotFound(f"没有该机构 / no such institution: {institution_id}")
        return work.principal.institution_id
    if role in (Role.ADMIN, Role.SUPERVISOR):
        return institution_id
    work.deny("charge.read", institution=institution_id)
    raise refused("无权查看收费", "charges are read by the clinic and the county administrator")


async def closed_month(work: Work, inst: int, month: str) -> Settlement | None:
    return await work.session.scalar(
        select(Settlement).where(Settlement.institution_id == inst, Settlement.month == month)
    )


async def _refuse_closed(work: Work, inst: int) -> None:
    """No event may fall in a closed month (a clock set back after the month was closed)."""
    month = work.now.astimezone(zone(work)).strftime("%Y-%m")
    if await closed_month(work, inst, month) is not None:
        raise Conflict(f"该月已结算，不能再更改 / {month} is closed", code="month_closed")
