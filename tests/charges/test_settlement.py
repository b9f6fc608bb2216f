"""Charges through the API on the embedded database: a seeded month of charges, payments,
waivers, voids and refunds whose settlement the test computes itself; the month closed and frozen;
who may record what; amounts refused."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, ApiUser, Database, make_settings
from tests.core.helpers import new_patient
from web.settings import Settings

NOV = dt.datetime(2026, 11, 10, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing
DEC = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """The embedded database only (the race of cancellations runs on both backends)."""
    return Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")


@pytest.fixture
def settings(tmp_path: Path, seeded_database: Database) -> Settings:
    return make_settings(tmp_path, seeded_database, token_ttl_minutes=60 * 24 * 60)


@dataclass
class Clock:
    at: dt.datetime = NOV

    def __call__(self) -> dt.datetime:
        return self.at


@dataclass(frozen=True)
class Case:
    """One request: what is asked, and what happens to its charge in November and December."""

    kind: str
    items: tuple[str, ...]
    extra: dict[str, Any]
    nov: str = ""
    """"cash" / "insurance" / "online": paid; "waive"; "cancel"; "": left due."""
    dec: str = ""
    """"cash": paid in December; "cancel": cancelled (refunded when paid)."""


CASES = [
    Case("ecg_read", ("ECG-12",), {}, "cash"),
    Case("imaging_read", ("IMG-CT",), {"details": {"modality": "CT"}}, "insurance"),
    Case("lab_test", ("LAB-58410-2", "LAB-2345-7"), {"tests": ["58410-2", "2345-7"]}, "online"),
    Case("ecg_read", ("ECG-12",), {}, "waive"),
    Case("video_consult", ("CONSULT-VIDEO",), {}, "cancel"),
    Case("imaging_read", ("IMG-DR",), {}),
    Case("ecg_read", ("ECG-12",), {}, "cash", "cancel"),
    Case("imaging_read", ("IMG-MR",), {"details": {"modality": "MR"}}, "", "cash"),
]


def expected(prices: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Both months' figures, from the cases and the catalogue's prices alone."""
    amount = [sum(prices[i] for i in case.items) for case in CASES]
    paid_nov = [
        a for c, a in zip(CASES, amount, strict=True) if c.nov in ("cash", "insurance", "online")
    ]
    refunded = [
        a for c, a in zip(CASES, amount, strict=True) if c.nov == "cash" and c.dec == "cancel"
    ]
    due_end_nov = [a for c, a in zip(CASES, amount, strict=True) if c.nov == ""]
    paid_dec = [a for c, a in zip(CASES, amount, strict=True) if c.nov == "" and c.dec == "cash"]
    methods = Counter()
    for c, a in zip(CASES, amount, strict=True):
        if c.nov in ("cash", "insurance", "online"):
            methods[c.nov] += a
    items = Counter(i for c in CASES for i in c.items)
    nov = {
        "charges": len(CASES),
        "charged_fen": sum(amount),
        "paid_fen": sum(paid_nov),
        "refunded_fen": 0,
        "waived_fen": sum(a for c, a in zip(CASES, amount, strict=True) if c.nov == "waive"),
        "voided_fen": sum(a for c, a in zip(CASES, amount, strict=True) if c.nov == "cancel"),
        "due_opening_fen": 0,
        "due_closing_fen": sum(due_end_nov),
        "net_fen": sum(paid_nov),
        "methods": dict(methods),
        "items": {code: (n, n * prices[code]) for code, n in items.items()},
    }
    dec = {
        "charges": 0,
        "charged_fen": 0,
        "paid_fen": sum(paid_dec),
        "refunded_fen": sum(refunded),
        "waived_fen": 0,
        "voided_fen": 0,
        "due_opening_fen": sum(due_end_nov),
        "due_closing_fen": sum(due_end_nov) - sum(paid_dec),
        "net_fen": sum(paid_dec) - sum(refunded),
    }
    return {"2026-11": nov, "2026-12": dec}


async def _make(user: ApiUser, patient_id: int, case: Case) -> int:
    if case.kind == "lab_test":
        body = {"patient_id": patient_id, "tests": case.extra["tests"]}
        (await user.post("/api/v1/lab/orders", body)).ok()
        return 0
    body = {"patient_id": patient_id, "kind": case.kind, **case.extra}
    return int((await user.post("/api/v1/requests", body)).ok()["id"])


async def _act(user: ApiUser, action: str, row: dict[str, Any]) -> None:
    charge = row["charge"]
    if action in ("cash", "insurance", "online"):
        ref = "" if action == "cash" else f"REF-{charge['id']}"
        body = {"method": action, "amount_fen": charge["amount_fen"], "reference": ref}
        (await user.post(f"/api/v1/charges/{charge['id']}/payment", body)).ok()
    elif action == "waive":
        body = {"reason": "五保户减免"}
        (await user.post(f"/api/v1/charges/{charge['id']}/waive", body)).ok()
    elif action == "cancel":
        body = {"reason": "患者未到"}
        (await user.post(f"/api/v1/requests/{charge['request_id']}/cancel", body)).ok()


def _figures(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in expected({i: 0 for c in CASES for i in c.items})["2026-12"]}


async def test_month_settles_and_balances(api: Api) -> None:
    clock = Clock()
    api.center.clock = clock
    township = await api.login("dr-township")
    inst = township.me["institution_id"]
    prices = {i["code"]: i["price_fen"] for i in (await township.get("/api/v1/charges/items")).ok()}
    assert all(isinstance(p, int) and p > 0 for p in prices.values()) and len(prices) > 30
    patient = await new_patient(township, "孙收费")
    for case in CASES:
        await _make(township, patient["id"], case)
    day = (await township.get("/api/v1/charges/daily", params={"day": "2026-11-10"})).ok()
    rows = day["rows"]
    assert [tuple(line["item_code"] for line in r["charge"]["lines"]) for r in rows] == [
        c.items for c in CASES
    ]
    assert all(r["charge"]["status"] == "due" and r["patient_name"] == "孙收费" for r in rows)
    for case, row in zip(CASES, rows, strict=True):
        await _act(township, case.nov, row)
    clock.at = DEC
    for case, row in zip(CASES, rows, strict=True):
        await _act(township, case.dec, row)

    want = expected(prices)
    for month in ("2026-11", "2026-12"):
        got = (await township.get("/api/v1/charges/settlement", params={"month": month})).ok()
        assert _figures(got) == {k: want[month][k] for k in _figures(got)}, month
        assert got["balanced"] and not got["closed"] and got["institution_id"] == inst
        balance = (
            got["charged_fen"]
            - got["refunded_fen"]
            - got["waived_fen"]
            - got["voided_fen"]
            - (got["due_closing_fen"] - got["due_opening_fen"])
        )
        assert balance == got["net_fen"] == got["paid_fen"] - got["refunded_fen"]
    nov = (await township.get("/api/v1/charges/settlement", params={"month": "2026-11"})).ok()
    assert {m["method"]: m["paid_fen"] for m in nov["by_method"]} == want["2026-11"]["methods"]
    assert {i["code"]: (i["count"], i["charged_fen"]) for i in nov["by_item"]} == want["2026-11"][
        "items"
    ]
    dec = (await township.get("/api/v1/charges/settlement", params={"month": "2026-12"})).ok()
    assert {m["method"]: (m["paid_fen"], m["refunded_fen"]) for m in dec["by_method"]} == {
        "cash": (want["2026-12"]["paid_fen"], want["2026-12"]["refunded_fen"])
    }

    # the county closes November: stored, unchanged, once; December has not ended
    admin = await api.login("admin")
    closed = (
        await admin.post(
            "/api/v1/charges/settlement/close", {"institution_id": inst, "month": "2026-11"}
        )
    ).ok()
    assert closed["closed"] and _figures(closed) == _figures(nov)
    again = await admin.post(
        "/api/v1/charges/settlement/close", {"institution_id": inst, "month": "2026-11"}
    )
    assert again.status == 409 and again.body["error"]["code"] == "month_closed"
    early = await admin.post(
        "/api/v1/charges/settlement/close", {"institution_id": inst, "month": "2026-12"}
    )
    assert early.status == 409 and early.body["error"]["code"] == "month_open"
    # a clock set back into the closed month cannot record anything in it
    clock.at = NOV + dt.timedelta(days=5)
    due = next(r for c, r in zip(CASES, rows, strict=True) if c.nov == "" and c.dec == "")
    late = await township.post(
        f"/api/v1/charges/{due['charge']['id']}/payment",
        {"method": "cash", "amount_fen": due["charge"]["amount_fen"]},
    )
    assert late.status == 409 and late.body["error"]["code"] == "month_closed"
    clock.at = DEC
    frozen = (
        await admin.get(
            "/api/v1/charges/settlement", params={"institution_id": inst, "month": "2026-11"}
        )
    ).ok()
    assert frozen["closed"] and _figures(frozen) == _figures(nov)

    # the supervisor reads the settlement (aggregates), never the daily list
    supervisor = await api.login("supervisor")
    whole = (await supervisor.get("/api/v1/charges/settlement", params={"month": "2026-11"})).ok()
    assert whole["institution_id"] is None and whole["charged_fen"] >= nov["charged_fen"]
    assert "孙收费" not in str(whole)
    assert (await supervisor.get("/api/v1/charges/daily")).status == 403


async def test_only_the_own_institution_records_and_amounts_are_checked(api: Api) -> None:
    township = await api.login("dr-township")
    patient = await new_patient(township, "周收费")
    body = {"patient_id": patient["id"], "kind": "ecg_read"}
    request = (await township.post("/api/v1/requests", body)).ok()
    day = (await township.get("/api/v1/charges/daily")).ok()
    charge = next(r["charge"] for r in day["rows"] if r["charge"]["request_id"] == request["id"])
    path = f"/api/v1/charges/{charge['id']}/payment"
    pay = {"method": "cash", "amount_fen": charge["amount_fen"]}

    for other in ("duty-dongcheng", "dr-village"):  # another township; a village below it
        user = await api.login(other)
        r = await user.post(path, pay)
        assert r.status == 404 and r.body["error"]["code"] == "not_found", (other, r.body)
        r = await user.post(f"/api/v1/charges/{charge['id']}/waive", {"reason": "x"})
        assert r.status == 404
        r = await user.get(
            "/api/v1/charges/daily", params={"institution_id": township.me["institution_id"]}
        )
        assert r.status == 404
    admin = await api.login("admin")
    assert (await admin.post(path, pay)).status == 403

    for bad in (-1, "2500", 2500.0, "25.00", 25.5, 10**12, True, None):
        r = await township.post(path, {**pay, "amount_fen": bad})
        assert r.status == 422 and r.body["error"]["field"] == "amount_fen", (bad, r.body)
    r = await township.post(path, {**pay, "amount_fen": charge["amount_fen"] + 1})
    assert r.status == 422 and "fen" in r.body["error"]["message"]
    r = await township.post(path, {**pay, "method": "online"})
    assert r.status == 422 and r.body["error"]["field"] == "reference"
    r = await township.post(f"/api/v1/charges/{charge['id']}/waive", {"reason": ""})
    assert r.status == 422
    for bad in (-5, 1.5, "100", 10**9):
        r = await admin.patch("/api/v1/charges/items/ECG-12", {"price_fen": bad})
        assert r.status == 422, (bad, r.body)
    assert (await township.patch("/api/v1/charges/items/ECG-12", {"price_fen": 1})).status == 403

    paid = (await township.post(path, {**pay, "reference": "  "})).ok()
    assert paid["status"] == "paid" and paid["method"] == "cash"
    twice = await township.post(path, pay)
    assert twice.status == 409
    # a new price applies to requests made after it; the paid charge keeps its own
    (await admin.patch("/api/v1/charges/items/ECG-12", {"price_fen": 3100})).ok()
    (await township.post("/api/v1/requests", body)).ok()
    rows = (await township.get("/api/v1/charges/daily")).ok()["rows"]
    assert rows[-1]["charge"]["amount_fen"] == 3100
    assert (
        next(r for r in rows if r["charge"]["id"] == charge["id"])["charge"]["amount_fen"]
        == (charge["amount_fen"])
    )
