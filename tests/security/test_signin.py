"""Issue 19.5, 15, 16: sign-in under attack, credentials in the access log, admins' own accounts.

Run on SQLite and PostgreSQL (the ``api`` fixture's backends).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from consult.models import AuditRecord, User
from tests.conftest import DEMO_PASSWORD, Api, ApiUser
from web import keys
from web.access_log import access_log_options
from web.app import create_app
from web.settings import Settings

THRESHOLD = 5  # the demo settings' lockout threshold


async def _login(api: Api, username: str, password: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    async with api.client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    ) as r:
        return r.status, await r.json(), time.monotonic() - started


async def _login_audits(api: Api, username: str) -> list[AuditRecord]:
    async with api.center.sessions() as session:
        rows = await session.scalars(
            select(AuditRecord).where(AuditRecord.action == "auth.login").order_by(AuditRecord.id)
        )
        return [r for r in rows if r.detail.get("username") == username]


async def _timed_me(user: ApiUser, stop: asyncio.Event) -> list[float]:
    """A signed-in user's calls while the attack runs: their latencies."""
    latencies = []
    while not stop.is_set():
        started = time.monotonic()
        assert (await user.get("/api/v1/auth/me")).status == 200
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.02)
    return latencies


async def test_parallel_wrong_passwords_lock_at_the_threshold(api: Api) -> None:
    api.client.server.app[keys.LOGIN_THROTTLE].limit = 1000  # the lockout alone, here
    bystander = await api.login("dr-township")
    stop = asyncio.Event()
    watching = asyncio.create_task(_timed_me(bystander, stop))
    results = await asyncio.gather(*(_login(api, "internist2", "wrong-pass") for _ in range(16)))
    stop.set()
    latencies = await watching

    statuses = sorted(status for status, _, _ in results)
    assert 500 not in statuses and set(statuses) <= {401, 423}, statuses
    assert statuses.count(401) == THRESHOLD  # the 5th failure locks the account for the rest
    assert max(took for _, _, took in results) < 30
    assert latencies and max(latencies) < 1.0, f"a signed-in user waited {max(latencies):.2f} s"

    audits = await _login_audits(api, "internist2")
    assert len(audits) == 16 and all(a.outcome == "denied" for a in audits)
    reasons = [a.detail["reason"] for a in audits]
    assert reasons.count("wrong password") == THRESHOLD and reasons.count("locked") == 11
    assert all(a.client for a in audits)  # the attacker's address is recorded

    async with api.center.sessions() as session:
        user = await session.scalar(select(User).where(User.username == "internist2"))
        assert user is not None and user.locked_until is not None
    status, body, _ = await _login(api, "internist2", DEMO_PASSWORD)  # the lock holds
    assert status == 423 and body["error"]["code"] == "account_locked"


async def test_unknown_user_looks_like_a_wrong_password(api: Api) -> None:
    unknown = await _login(api, "nobody-here", "wrong-pass")
    wrong = await _login(api, "dr-village", "wrong-pass")
    assert (unknown[0], unknown[1]["error"]) == (wrong[0], wrong[1]["error"])
    assert [a.detail["reason"] for a in await _login_audits(api, "nobody-here")] == [
        "unknown or inactive user"
    ]


async def test_failures_are_rate_limited_per_address(api: Api) -> None:
    api.client.server.app[keys.LOGIN_THROTTLE].limit = 3
    for name in ("user-a", "user-b", "user-c"):  # many accounts from one address
        assert (await _login(api, name, "wrong-pass"))[0] == 401
    async with api.client.post(
        "/api/v1/auth/login", json={"username": "dr-village", "password": "wrong-pass"}
    ) as r:
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        assert (await r.json())["error"]["code"] == "too_many_attempts"
    assert [a.detail["reason"] for a in await _login_audits(api, "dr-village")] == ["rate limited"]
    # the refused attempt checked no password: the account's failure count did not move
    async with api.center.sessions() as session:
        failed = await session.scalar(
            select(User.failed_logins).where(User.username == "dr-village")
        )
        assert failed == 0


async def test_access_tokens_never_reach_the_access_log(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="web.access")
    server = TestServer(create_app(settings))
    await server.start_server(**access_log_options())  # as ``telecenter serve`` runs it
    client = TestClient(server)
    await client.start_server()
    try:
        async with client.post(
            "/api/v1/auth/login", json={"username": "dr-village", "password": DEMO_PASSWORD}
        ) as r:
            token = (await r.json())["token"]
        ws = await client.ws_connect(f"/api/v1/events?access_token={token}")
        await ws.close()
        async with client.get(f"/api/v1/auth/me?x=1&token={token}&password=hunter22"):
            pass
    finally:
        await client.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "web.access"]
    assert any("/api/v1/events?access_token=[redacted]" in line for line in lines), lines
    assert any("token=[redacted]&password=[redacted]" in line for line in lines), lines
    assert not any(token in line or "hunter22" in line for line in lines)


async def test_admins_cannot_lock_the_center_out(api: Api) -> None:
    admin = await api.login("admin")
    own = await admin.patch(f"/api/v1/users/{admin.me['id']}", {"active": False})
    assert own.status == 409 and own.body["error"]["code"] == "own_account"
    institutions = (await admin.get("/api/v1/institutions")).ok()
    county = next(i["id"] for i in institutions if i["level"] == "county")
    second = (
        await admin.post(
            "/api/v1/users",
            {
                "username": "admin-two",
                "password": DEMO_PASSWORD,
                "role": "admin",
                "institution_id": county,
            },
        )
    ).ok()
    other = await api.login("admin-two")
    # two administrators disabling each other at once: the center keeps one
    a, b = await asyncio.gather(
        admin.patch(f"/api/v1/users/{second['id']}", {"active": False}),
        other.patch(f"/api/v1/users/{admin.me['id']}", {"active": False}),
    )
    assert 500 not in (a.status, b.status)
    assert sorted([a.status, b.status])[0] == 200 and sorted([a.status, b.status])[1] in (
        401,
        409,
    )
    async with api.center.sessions() as session:
        active = await session.scalars(
            select(User.username).where(User.role == "admin", User.active.is_(True))
        )
        assert len(list(active)) == 1
