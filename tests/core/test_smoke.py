from tests.conftest import Api


async def test_health_and_login(api: Api) -> None:
    r = await api.anonymous("GET", "/healthz")
    assert r.status == 200 and r.body["database"] == "ok"
    user = await api.login("dr-village")
    me = (await user.get("/api/v1/auth/me")).ok()
    assert me["username"] == "dr-village" and me["institution_level"] == "village"
