"""Issue 19.5: the sign-in throttle and the password hashing pool under parallel attempts.

Run on SQLite and PostgreSQL (the ``seeded_database`` backends).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from consult.models import AuditRecord, User
from tests.conftest import Api, Database, make_settings
from tests.security.test_signin import _login, _login_audits, _timed_me
from web import keys
from web.app import create_app
from web.login_throttle import address_key

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

logger = logging.getLogger(__name__)

LIMIT = 4  # below the lockout threshold (5): only the throttle stops these attempts
PARALLEL = 30
FLOOD = 16  # as many as the attack: the database pool is not what is measured


@pytest.fixture
async def proxied(tmp_path: Path, seeded_database: Database) -> AsyncIterator[Api]:
    """A server behind a trusted proxy on loopback: each request names its client."""
    settings = make_settings(
        tmp_path, seeded_database, trusted_proxies=["127.0.0.1"], login_failures_per_minute=2
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        yield Api(client)


@pytest.fixture
async def slow_hashing(tmp_path: Path, seeded_database: Database) -> AsyncIterator[Api]:
    """A server hashing one password at a time (~150 ms each), two more may wait."""
    settings = make_settings(
        tmp_path,
        seeded_database,
        argon2_time_cost=3,
        argon2_memory_kib=65536,
        password_hash_concurrency=1,
        password_hash_queue=2,
        login_failures_per_minute=1000,
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        yield Api(client)


async def _attempt(
    api: Api, username: str, forwarded: str | None = None
) -> tuple[int, Any, dict[str, Any]]:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    started = time.monotonic()
    async with api.client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": "wrong-pass"},
        headers=headers,
    ) as r:
        body = await r.json()
        return r.status, body, {**r.headers, "took": time.monotonic() - started}


def _check_throttled(results: list[tuple[int, Any, dict[str, Any]]], admitted: int) -> None:
    statuses = sorted(status for status, _, _ in results)
    assert 500 not in statuses and set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) == admitted, statuses  # exactly the slots left, never more
    slowest = max(headers["took"] for _, _, headers in results)
    logger.info("%d parallel attempts answered within %.0f ms", len(results), slowest * 1000)
    for status, body, headers in results:
        if status == 429:
            assert int(headers["Retry-After"]) >= 1
            assert body["error"]["code"] == "too_many_attempts"
            assert "登录尝试过多" in body["error"]["message"]


async def test_parallel_attempts_on_one_user_admit_only_the_limit(api: Api) -> None:
    throttle = api.client.server.app[keys.LOGIN_THROTTLE]
    throttle.limit = LIMIT
    results = await asyncio.gather(*(_attempt(api, "internist2") for _ in range(PARALLEL)))
    _check_throttled(results, LIMIT)

    reasons = [a.detail["reason"] for a in await _login_audits(api, "internist2")]
    assert len(reasons) == PARALLEL  # every refusal audited
    assert reasons.count("wrong password") == LIMIT
    assert reasons.count("rate limited") == PARALLEL - LIMIT
    async with api.center.sessions() as session:
        user = await session.scalar(select(User).where(User.username == "internist2"))
        assert user is not None and user.failed_logins == LIMIT and user.locked_until is None
    assert throttle.failures("user:internist2") == LIMIT
    assert throttle.in_flight("user:internist2") == 0  # every slot settled


async def test_parallel_attempts_from_one_address_admit_only_the_limit(api: Api) -> None:
    throttle = api.client.server.app[keys.LOGIN_THROTTLE]
    throttle.limit = LIMIT
    assert (await _attempt(api, "guess-first"))[0] == 401  # the address has failed once ...
    names = [f"guess-{i}" for i in range(PARALLEL)]  # many accounts: only the address is shared
    results = await asyncio.gather(*(_attempt(api, name) for name in names))
    _check_throttled(results, LIMIT - 1)  # ... so its attempts in flight count
    assert throttle.failures("addr:127.0.0.1") == LIMIT
    assert throttle.in_flight("addr:127.0.0.1") == 0


async def test_colleagues_behind_one_address_sign_in_together(api: Api) -> None:
    """A hospital's NAT address: more parallel sign-ins than the limit, none refused."""
    api.client.server.app[keys.LOGIN_THROTTLE].limit = LIMIT
    users = ["dr-village", "dr-township", "ecg-reader", "radiologist", "internist", "admin"]
    results = await asyncio.gather(
        *(_login(api, users[i % len(users)], "demo-password") for i in range(3 * LIMIT))
    )
    assert [status for status, *_ in results] == [200] * (3 * LIMIT)


async def test_a_successful_sign_in_gives_its_slot_back(api: Api) -> None:
    api.client.server.app[keys.LOGIN_THROTTLE].limit = 2
    for _ in range(3):
        status, _, _ = await _login(api, "dr-village", "demo-password")
        assert status == 200


def test_address_keys_group_ipv6_by_64() -> None:
    assert address_key("2001:db8:1:2::1") == "addr:2001:db8:1:2::/64"
    assert address_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "addr:2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") == "addr:2001:db8:1:3::/64"
    assert address_key("fe80::1%eth0") == "addr:fe80::/64"
    assert address_key("::ffff:203.0.113.7") == "addr:203.0.113.7"
    assert address_key("203.0.113.7") == "addr:203.0.113.7"
    assert address_key("203.0.113.8") == "addr:203.0.113.8"
    assert address_key("not an address") == "addr:not an address"


async def test_an_ipv6_slash_64_is_one_address_to_the_throttle(proxied: Api) -> None:
    # the limit is 2 here; a new user name each time, so only the address counts
    assert (await _attempt(proxied, "u1", "2001:db8:1:2::1"))[0] == 401
    assert (await _attempt(proxied, "u2", "2001:db8:1:2::bad:1"))[0] == 401
    status, _, headers = await _attempt(proxied, "u3", "2001:db8:1:2:ffff::9")
    assert status == 429 and int(headers["Retry-After"]) > 0  # the same /64
    assert (await _attempt(proxied, "u4", "2001:db8:1:3::1"))[0] == 401  # the next /64 is not

    assert (await _attempt(proxied, "u5", "::ffff:203.0.113.7"))[0] == 401
    assert (await _attempt(proxied, "u6", "203.0.113.7"))[0] == 401
    assert (await _attempt(proxied, "u7", "::ffff:203.0.113.7"))[0] == 429  # mapped: IPv4
    assert (await _attempt(proxied, "u8", "203.0.113.8"))[0] == 401  # IPv4: whole address


async def _peak_outstanding(api: Api, stop: asyncio.Event) -> int:
    passwords, peak = api.center.passwords, 0
    while not stop.is_set():
        peak = max(peak, passwords.outstanding)
        await asyncio.sleep(0.002)
    return peak


async def test_a_flood_of_sign_ins_is_refused_beyond_the_hashing_pool(slow_hashing: Api) -> None:
    api = slow_hashing
    bystander = await api.login("dr-township")
    stop = asyncio.Event()
    watching = asyncio.create_task(_timed_me(bystander, stop))
    peak = asyncio.create_task(_peak_outstanding(api, stop))
    names = [f"flood-{i}" for i in range(FLOOD)]
    started = time.monotonic()
    results = await asyncio.gather(*(_attempt(api, name) for name in names))
    took = time.monotonic() - started
    stop.set()
    latencies, peak_outstanding = await watching, await peak

    statuses = [status for status, _, _ in results]
    assert 500 not in statuses and set(statuses) <= {401, 503}, statuses
    assert statuses.count(503) >= FLOOD // 2, statuses  # 3 taken at once: most refused
    assert peak_outstanding <= 3  # one hashing, two waiting: never more
    for status, body, headers in results:
        if status == 503:
            assert int(headers["Retry-After"]) >= 1
            assert body["error"]["code"] == "busy"
            assert body["error"]["message"].startswith("服务器繁忙")
            # not queued behind the hashes (16 in turn take ~2.5 s or more): only its audit waits
            assert headers["took"] < 1.5, f"a refusal took {headers['took']:.2f} s"
    assert latencies and max(latencies) < 1.0, f"a signed-in user waited {max(latencies):.2f} s"

    async with api.center.sessions() as session:
        rows = await session.scalars(select(AuditRecord).where(AuditRecord.action == "auth.login"))
        reasons = {r.detail.get("username"): r.detail.get("reason") for r in rows}
    for name, status in zip(names, statuses, strict=True):  # every refusal audited, as what
        assert reasons[name] == ("busy" if status == 503 else "unknown or inactive user")
    refusals = [headers["took"] for status, _, headers in results if status == 503]
    logger.info(
        "flood: %d of %d refused busy (slowest refusal %.0f ms) in %.2f s; bystander max %.0f ms",
        len(refusals),
        FLOOD,
        max(refusals) * 1000,
        took,
        max(latencies) * 1000,
    )
