"""Shapes of the charges API. Amounts are integers in fen: a float, a string or a number out of
range is refused (422) before the domain sees it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from consult.charges_tables import MAX_FEN, ChargeStatus, PaymentMethod
from consult.vocab import RequestKind

Fen = Annotated[StrictInt, Field(ge=0, le=MAX_FEN)]
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ItemOut(_Out):
    code: str
    name: str
    name_en: str
    kind: RequestKind
    price_fen: int
    active: bool


class PriceIn(_In):
    price_fen: Fen
    active: StrictBool = True


class PaymentIn(_In):
    method: PaymentMethod
    amount_fen: Fen
    """The amount taken: must be the amount due (a check against a stale screen)."""
    reference: str = Field("", max_length=64)


class WaiveIn(_In):
    reason: str = Field(min_length=1, max_length=500)


class DailyQuery(_In):
    institution_id: int | None = Field(None, ge=1, le=2**31 - 1)
    day: dt.date | None = None


class SettlementQuery(_In):
    """One institution's month (default: the current month; the county: the whole community)."""

    institution_id: int | None = Field(None, ge=1, le=2**31 - 1)
    month: Month | None = None


class CloseIn(_In):
    institution_id: int = Field(ge=1, le=2**31 - 1)
    month: Month


class LineOut(_Out):
    item_code: str
    name: str
    name_en: str
    unit_fen: int
    quantity: int
    amount_fen: int


class ChargeOut(_Out):
    id: int
    request_id: int
    institution_id: int
    status: ChargeStatus
    amount_fen: int
    created_at: dt.datetime
    method: PaymentMethod | None
    reference: str
    paid_at: dt.datetime | None
    waived_at: dt.datetime | None
    waive_reason: str
    voided_at: dt.datetime | None
    lines: list[LineOut]


class DailyRowOut(_Out):
    charge: ChargeOut
    request_identifier: str
    kind: RequestKind
    patient_name: str


class DailyOut(_Out):
    institution_id: int
    day: dt.date
    rows: list[DailyRowOut]
    charged_fen: int
    paid_fen: int
    refunded_fen: int
    due_fen: int


class ItemTotalOut(BaseModel):
    code: str
    name: str
    name_en: str
    count: int
    charged_fen: int
    refunds: int
    refunded_fen: int


class MethodTotalOut(BaseModel):
    method: PaymentMethod
    payments: int
    paid_fen: int
    refunds: int
    refunded_fen: int
    net_fen: int


class SettlementOut(BaseModel):
    """A month's settlement of one institution (None: the community) with the county
    (aggregates, no patient)."""

    institution_id: int | None
    month: str
    since: dt.datetime
    until: dt.datetime
    charges: int
    charged_fen: int
    paid_fen: int
    refunded_fen: int
    waived_fen: int
    voided_fen: int
    due_opening_fen: int
    due_closing_fen: int
    net_fen: int
    balanced: bool
    by_item: list[ItemTotalOut]
    by_method: list[MethodTotalOut]
    closed: bool
    closed_at: dt.datetime | None
