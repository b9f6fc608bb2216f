"""The pages' session: an HttpOnly SameSite=Strict cookie set at sign-in, CSRF-checked on every
request that changes state, cleared and revoked at sign-out (SQLite and PostgreSQL)."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from tests.conftest import DEMO_PASSWORD, Api, Resp


async def sign_in(api: Api, username: str) -> tuple[dict[str, Any], SimpleCookie, list[str]]:
    async with api.client.post(
        "/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}
    ) as r:
        assert r.status == 200
        raw = r.headers.getall("Set-Cookie")
        jar: SimpleCookie = SimpleCookie()
        for line in raw:
            jar.load(line)
        return await r.json(), jar, raw


async def call(api: Api, method: str, path: str, cookies: SimpleCookie, **kw: Any) -> Resp:
    api.client.session.cookie_jar.clear()  # only the cookies this test hands over
    header = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
    headers = {"Cookie": header, **kw.pop("headers", {})}
    async with api.client.request(method, path, headers=headers, **kw) as r:
        body = await r.json() if r.content_type == "application/json" else await r.read()
        return Resp(r.status, body)


async def test_cookie_session_and_csrf(api: Api) -> None:
    body, jar, raw = await sign_in(api, "dr-village")
    session = next(line for line in raw if line.startswith("tc_session="))
    csrf_line = next(line for line in raw if line.startswith("tc_csrf="))
    flags = session.lower()
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags.replace("samesite", "")  # plain HTTP on loopback
    assert "httponly" not in csrf_line.lower() and "samesite=strict" in csrf_line.lower()
    assert jar["tc_session"].value == body["token"]
    assert jar["tc_csrf"].value == body["csrf_token"] != body["token"]
    assert body["user"]["timezone"] == "Asia/Shanghai"

    me = await call(api, "GET", "/api/v1/auth/me", jar)
    assert me.ok()["username"] == "dr-village"

    patient = {"name": "张三", "sex": "M", "birth_date": "1960-01-01"}
    bare = await call(api, "POST", "/api/v1/patients", jar, json=patient)
    assert bare.status == 403 and bare.body["error"]["code"] == "csrf_failed"
    wrong = await call(
        api, "POST", "/api/v1/patients", jar, json=patient, headers={"X-CSRF-Token": "x" * 43}
    )
    assert wrong.status == 403 and wrong.body["error"]["code"] == "csrf_failed"
    good_csrf = {"X-CSRF-Token": jar["tc_csrf"].value}
    foreign = await call(
        api,
        "POST",
        "/api/v1/patients",
        jar,
        json=patient,
        headers={**good_csrf, "Origin": "http://evil.example"},
    )
    assert foreign.status == 403 and foreign.body["error"]["code"] == "origin_mismatch"
    made = await call(api, "POST", "/api/v1/patients", jar, json=patient, headers=good_csrf)
    assert made.status == 201, made.body

    # the bearer header keeps working without any CSRF token (API clients)
    user = await api.login("dr-village")
    assert (await user.post("/api/v1/patients", json={**patient, "name": "李四"})).status == 201

    # a WebSocket upgrade by cookie must name our origin
    header = f"tc_session={jar['tc_session'].value}"
    api.client.session.cookie_jar.clear()
    async with api.client.get(
        "/api/v1/events",
        headers={
            "Cookie": header,
            "Origin": "http://evil.example",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    ) as r:
        assert r.status == 403
    origin = str(api.client.make_url("/")).rstrip("/")
    api.client.session.cookie_jar.clear()
    ws = await api.client.ws_connect("/api/v1/events", headers={"Cookie": header, "Origin": origin})
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello" and hello["user"] == "dr-village"
    await ws.close()

    out = await call(api, "POST", "/api/v1/auth/logout", jar, json={}, headers=good_csrf)
    assert out.status == 204
    after = await call(api, "GET", "/api/v1/auth/me", jar)
    assert after.status == 401
