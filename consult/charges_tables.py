"""Tables of the charges: the price catalogue, a charge per request with its lines, refunds and
the closed monthly settlements.

Amounts are integers in fen (1 yuan = 100 fen), never floats; check constraints keep them in range
whatever the code does, and a refund is unique per charge (one refund, however many cancel).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consult.db import Base, utcnow
from consult.models import _enum
from consult.vocab import RequestKind

MAX_FEN = 100_000_000
"""The largest amount accepted anywhere: 1,000,000 yuan (an absurd price for one exam)."""


class ChargeStatus(StrEnum):
    DUE = "due"
    PAID = "paid"
    WAIVED = "waived"
    REFUNDED = "refunded"
    VOID = "void"
    """The request was cancelled before any payment: nothing is owed."""


class PaymentMethod(StrEnum):
    CASH = "cash"
    INSURANCE = "insurance"
    """Medical insurance (医保): the settlement number as the reference."""
    ONLINE = "online"
    """An online payment (WeChat Pay, Alipay, UnionPay): the transaction reference."""


class ChargeItem(Base):
    """One priced item of the county's catalogue (an exam, a read, a test, a consult)."""

    __tablename__ = "charge_item"
    __table_args__ = (
        CheckConstraint(f"price_fen >= 0 AND price_fen <= {MAX_FEN}", name="price_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[RequestKind] = mapped_column(_enum(RequestKind))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Charge(Base):
    """What the patient owes for one request, at the institution that made it."""

    __tablename__ = "charge"
    __table_args__ = (
        CheckConstraint(f"amount_fen >= 0 AND amount_fen <= {MAX_FEN}", name="amount_in_range"),
        Index("ix_charge_institution_created", "institution_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    status: Mapped[ChargeStatus] = mapped_column(_enum(ChargeStatus))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    method: Mapped[PaymentMethod | None] = mapped_column(_enum(PaymentMethod))
    reference: Mapped[str] = mapped_column(String(64), default="")
    paid_at: Mapped[dt.datetime | None]
    paid_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    waived_at: Mapped[dt.datetime | None]
    waived_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    waive_reason: Mapped[str] = mapped_column(Text, default="")
    voided_at: Mapped[dt.datetime | None]

    lines: Mapped[list[ChargeLine]] = relationship(
        lazy="selectin", order_by="ChargeLine.id", cascade="all, delete-orphan"
    )


class ChargeLine(Base):
    """One catalogue item of a charge, at the price of the day the request was made."""

    __tablename__ = "charge_line"
    __table_args__ = (
        CheckConstraint("quantity >= 1 AND quantity <= 100", name="quantity_in_range"),
        CheckConstraint(f"unit_fen >= 0 AND unit_fen <= {MAX_FEN}", name="unit_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charge.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    unit_fen: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class Refund(Base):
    """The money given back for a paid charge whose request was cancelled: one per charge."""

    __tablename__ = "charge_refund"
    __table_args__ = (
        CheckConstraint(f"amount_fen > 0 AND amount_fen <= {MAX_FEN}", name="amount_in_range"),
        Index("ix_charge_refund_institution_created", "institution_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charge.id"), unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[PaymentMethod] = mapped_column(_enum(PaymentMethod))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class Settlement(Base):
    """A closed month of one institution: its totals, frozen."""

    __tablename__ = "charge_settlement"
    __table_args__ = (UniqueConstraint("institution_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    month: Mapped[str] = mapped_column(String(7))
    """``YYYY-MM`` in the center's time zone."""
    totals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    closed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
