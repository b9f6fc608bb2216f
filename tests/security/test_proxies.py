"""Issue 18: X-Forwarded-For / X-Forwarded-Proto believed only from a trusted proxy.

The client address the audit, the sign-in throttle and the access log use is the direct peer, or
behind ``trusted_proxies`` the right-most untrusted entry of ``X-Forwarded-For``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from consult.models import AuditRecord
from tests.conftest import DEMO_PASSWORD, Api, Database, make_settings
from web import keys
from web.access_log import access_log_options
from web.app import create_app

CLIENT = "203.0.113.7"
SPOOFED = "198.51.100.66"


@pytest.fixture
async def proxied(tmp_path: Path, seeded_database: Database) -> AsyncIterator[TestClient]:
    """A server that trusts loopback as its reverse proxy (as behind nginx on the same host)."""
    settings = make_settings(tmp_path, seeded_database, trusted_proxies=["127.0.0.1", "10.0.0.0/8"])
    server = TestServer(create_app(settings))
    await server.start_server(**access_log_options())
    client = TestClient(server)
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def _login(client: TestClient, forwarded: dict[str, str], password: str = DEMO_PASSWORD):
    async with client.post(
        "/api/v1/auth/login",
        json={"username": "dr-village", "password": password},
        headers=forwarded,
    ) as r:
        return r.status, dict(r.headers), r.headers.getall("Set-Cookie", [])


async def _clients(client: TestClient, action: str) -> list[str]:
    center = client.server.app[keys.CENTER]
    async with center.sessions() as session:
        rows = await session.scalars(
            select(AuditRecord.client).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
        return list(rows)


async def test_untrusted_peer_cannot_forge_its_address_or_tls(api: Api) -> None:
    status, headers, cookies = await _login(
        api.client, {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}
    )
    assert status == 200
    assert await _clients(api.client, "auth.login") == ["127.0.0.1"]
    assert "Strict-Transport-Security" not in headers
    assert cookies and not any("secure" in c.lower().split("; ") for c in cookies)


async def test_trusted_proxy_forwards_client_and_tls(proxied: TestClient) -> None:
    status, headers, cookies = await _login(
        proxied, {"X-Forwarded-For": f"{SPOOFED}, {CLIENT}", "X-Forwarded-Proto": "https"}
    )
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    for line in cookies:  # behind the TLS proxy: Secure, still SameSite=Strict
        flags = [f.strip().lower() for f in line.split(";")]
        assert "secure" in flags and "samesite=strict" in flags, line
    # a chain of trusted proxies: the right-most untrusted entry is the client
    await _login(proxied, {"X-Forwarded-For": f"{SPOOFED}, {CLIENT}, 10.1.2.3"})
    # no header: the proxy itself
    await _login(proxied, {})
    # garbage: the hop that forwarded it
    await _login(proxied, {"X-Forwarded-For": f"not-an-ip, {CLIENT}"})
    assert await _clients(proxied, "auth.login") == [CLIENT, CLIENT, "127.0.0.1", CLIENT]
    async with proxied.get("/healthz") as r:  # plain http, no forwarded proto: no HSTS
        assert "Strict-Transport-Security" not in r.headers


async def test_reads_are_audited_with_the_forwarded_client(proxied: TestClient) -> None:
    async with proxied.post(
        "/api/v1/auth/login", json={"username": "internist", "password": DEMO_PASSWORD}
    ) as r:
        token = (await r.json())["token"]
    forwarded = {"Authorization": f"Bearer {token}", "X-Forwarded-For": f"{SPOOFED}, {CLIENT}"}
    async with proxied.get("/api/v1/worklist", headers=forwarded) as r:
        assert r.status == 200, await r.text()
    assert set(await _clients(proxied, "worklist.read")) == {CLIENT}


async def test_throttle_counts_the_forwarded_client(tmp_path: Path, seeded_database: Database):
    settings = make_settings(
        tmp_path, seeded_database, trusted_proxies=["127.0.0.1"], login_failures_per_minute=2
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        for _ in range(2):
            status, _, _ = await _login(client, {"X-Forwarded-For": CLIENT}, "wrong")
            assert status == 401

        # the user name is throttled too: try another user for the address checks
        async def attempt(address: str) -> int:
            async with client.post(
                "/api/v1/auth/login",
                json={"username": "internist", "password": "wrong"},
                headers={"X-Forwarded-For": address},
            ) as r:
                return r.status

        assert await attempt(f"{SPOOFED}, {CLIENT}") == 429  # the same client, whatever it claims
        assert await attempt("203.0.113.8") == 401  # another client is not slowed


async def test_access_log_shows_the_forwarded_client(
    proxied: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="web.access")
    async with proxied.get("/healthz", headers={"X-Forwarded-For": f"{SPOOFED}, {CLIENT}"}):
        pass
    lines = [r.getMessage() for r in caplog.records if r.name == "web.access"]
    assert any(line.startswith(CLIENT) and "/healthz" in line for line in lines), lines
    assert not any(SPOOFED in line for line in lines)
