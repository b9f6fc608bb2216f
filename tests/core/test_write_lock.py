"""Concurrent units of work never wait on the database's lock timeout (SQLite: busy_timeout)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import DEMO_PASSWORD, Api, Resp

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

USERS = ("dr-village", "dr-township", "ecg-reader", "radiologist", "internist", "admin")


async def _sign_in(api: Api, username: str) -> Resp:
    async with api.client.post(
        "/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}
    ) as r:
        return Resp(r.status, await r.json())


async def test_a_burst_of_sign_ins_reads_and_writes_all_succeed_quickly(api: Api) -> None:
    village = await api.login("dr-village")
    calls = []
    for i in range(100):
        match i % 4:
            case 0:
                calls.append(_sign_in(api, USERS[i % len(USERS)]))
            case 1:
                calls.append(village.get("/api/v1/patients"))  # audited read
            case 2:
                calls.append(village.get("/api/v1/auth/me"))
            case _:
                calls.append(village.post("/api/v1/patients", {"name": f"患者{i}", "sex": "F"}))
    started = time.monotonic()
    answers = await asyncio.gather(*calls)
    elapsed = time.monotonic() - started
    bad = [(a.status, a.body) for a in answers if not 200 <= a.status < 300]
    assert not bad, bad[:3]
    assert elapsed < 8, f"the burst took {elapsed:.1f} s (something waited on the lock timeout)"
