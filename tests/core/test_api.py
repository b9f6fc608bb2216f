"""The HTTP surface: hostile input, error shapes, OpenAPI, health and metrics."""

from __future__ import annotations

from tests.conftest import Api


async def test_malformed_requests_get_4xx_with_a_code(api: Api) -> None:
    village = await api.login("dr-village")
    h = {**village.headers, "Content-Type": "application/json"}
    cases = [
        ("POST", "/api/v1/patients", b"{not json", 400, "invalid_json"),
        ("POST", "/api/v1/patients", b"\xff\xfe\x00", 400, "invalid_json"),
        ("POST", "/api/v1/patients", b"[1,2,3]", 422, "invalid_input"),
        ("POST", "/api/v1/patients", b'"just a string"', 422, "invalid_input"),
        (
            "POST",
            "/api/v1/requests",
            b'{"patient_id": "x", "kind": "ecg_read"}',
            422,
            "invalid_input",
        ),
        (
            "POST",
            "/api/v1/requests",
            b'{"patient_id": 1, "kind": "mri_of_the_soul"}',
            422,
            "invalid_input",
        ),
        ("GET", "/api/v1/patients/not-a-number", b"", 404, "not_found"),
        ("GET", "/api/v1/requests?limit=100000", b"", 422, "invalid_input"),
        ("GET", "/api/v1/requests?kind=bogus", b"", 422, "invalid_input"),
        ("DELETE", "/api/v1/patients", b"", 405, "method_not_allowed"),
        ("GET", "/api/v1/nothing-here", b"", 404, "not_found"),
        (
            "POST",
            "/api/v1/patients",
            b'{"name": "' + b"x" * (2 << 20) + b'", "sex": "M"}',
            413,
            "payload_too_large",
        ),
    ]
    for method, path, data, status, code in cases:
        async with api.client.request(method, path, data=data, headers=h) as r:
            body = await r.json()
            assert r.status == status, (path, data[:40], r.status, body)
            assert body["error"]["code"] == code, (path, body)


async def test_login_lockout_and_token_revocation(api: Api) -> None:
    for _ in range(5):
        r = await api.anonymous(
            "POST", "/api/v1/auth/login", json={"username": "internist", "password": "nope-nope"}
        )
        assert r.status == 401 and r.body["error"]["code"] == "authentication_failed"
    locked = await api.anonymous(
        "POST", "/api/v1/auth/login", json={"username": "internist", "password": "demo-password"}
    )
    assert locked.status == 423 and locked.body["error"]["code"] == "account_locked"
    unknown = await api.anonymous(
        "POST", "/api/v1/auth/login", json={"username": "nobody", "password": "whatever"}
    )
    assert unknown.status == 401

    village = await api.login("dr-village")
    assert (await village.get("/api/v1/auth/me")).status == 200
    assert (await village.post("/api/v1/auth/logout")).status == 204
    assert (await village.get("/api/v1/auth/me")).status == 401


async def test_disabled_user_and_password_change_revoke_tokens(api: Api) -> None:
    admin = await api.login("admin")
    reader = await api.login("ecg-reader")
    (await admin.patch(f"/api/v1/users/{reader.me['id']}", {"active": False})).ok()
    assert (await reader.get("/api/v1/worklist")).status == 401
    (await admin.patch(f"/api/v1/users/{reader.me['id']}", {"active": True})).ok()
    short = await admin.post(f"/api/v1/users/{reader.me['id']}/password", {"password": "short"})
    assert short.status == 422
    assert (
        await admin.post(
            f"/api/v1/users/{reader.me['id']}/password", {"password": "a-new-password"}
        )
    ).status == 204
    r = await api.anonymous(
        "POST", "/api/v1/auth/login", json={"username": "ecg-reader", "password": "a-new-password"}
    )
    assert r.status == 200


async def test_admin_validates_roles_against_institutions(api: Api) -> None:
    admin = await api.login("admin")
    insts = {i["code"]: i for i in (await admin.get("/api/v1/institutions")).ok()}
    wrong = await admin.post(
        "/api/v1/users",
        {
            "username": "x-reader",
            "password": "long-enough",
            "role": "ecg_specialist",
            "institution_id": insts["vc-liujia"]["id"],
        },
    )
    assert wrong.status == 422 and wrong.body["error"]["field"] == "role"
    taken = await admin.post(
        "/api/v1/users",
        {
            "username": "admin",
            "password": "long-enough",
            "role": "admin",
            "institution_id": insts["county"]["id"],
        },
    )
    assert taken.status == 409
    orphan = await admin.post(
        "/api/v1/institutions",
        {"code": "vc-x", "name": "孤村", "level": "village", "parent_id": insts["county"]["id"]},
    )
    assert orphan.status == 422 and orphan.body["error"]["field"] == "parent_id"


async def test_openapi_health_metrics(api: Api) -> None:
    spec = (await api.anonymous("GET", "/api/openapi.json")).body
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/patients/{id}" in spec["paths"]
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    assert "security" not in login
    schema = login["requestBody"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/LoginIn") and "LoginIn" in spec["components"]["schemas"]
    assert "PatientOut" in spec["components"]["schemas"]
    health = await api.anonymous("GET", "/healthz")
    assert health.status == 200 and health.body["status"] == "ok"
    assert (await api.anonymous("GET", "/metrics")).status == 401  # see test_metrics.py
    metrics = await (await api.login("admin")).get("/metrics")
    assert metrics.status == 200
    assert b"telecenter_http_requests_total" in metrics.body
    assert b'route="/api/openapi.json"' in metrics.body
    assert b"telecenter_event_subscribers 0.0" in metrics.body


async def test_tokens_expire(api: Api) -> None:
    import datetime as dt

    village = await api.login("dr-village")
    assert (await village.get("/api/v1/auth/me")).status == 200
    center = api.center
    center.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=13)
    expired = await village.get("/api/v1/auth/me")
    assert expired.status == 401
    assert "expired" in expired.body["error"]["message"]
