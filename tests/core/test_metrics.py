"""``/metrics`` against the real server: every answer counted under the status it really had,
and the metrics readable only with the metrics token or by an administrator."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api, Database, make_settings
from web.settings import Settings, SettingsError, load_settings

TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path, seeded_database: Database) -> Settings:
    return make_settings(tmp_path, seeded_database, metrics_token=TOKEN)


def samples(body: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(body: bytes, name: str, **labels: str) -> float:
    return samples(body).get((name, frozenset(labels.items())), 0.0)


async def scrape(api: Api) -> bytes:
    r = await api.anonymous("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status == 200, r.body
    assert isinstance(r.body, bytes)
    return r.body


def requests_total(body: bytes, method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return value(body, "telecenter_http_requests_total", **labels)


async def test_each_answer_is_counted_under_its_real_status(api: Api) -> None:
    admin = await api.login("admin")
    village = await api.login("dr-village")
    institutions = (await admin.get("/api/v1/institutions")).ok()
    county = next(i for i in institutions if i["level"] == "county")
    user = {"username": "admin", "password": "long-enough", "institution_id": county["id"]}
    assert (await admin.post("/api/v1/users", {**user, "role": "wizard"})).status == 422
    assert (await admin.post("/api/v1/users", {**user, "role": "admin"})).status == 409
    assert (await village.get("/api/v1/users")).status == 403
    assert (await village.get("/api/v1/patients/999999")).status == 404
    assert (await api.anonymous("GET", "/api/v1/patients")).status == 401
    assert (await api.anonymous("GET", "/no-such-page")).status == 404
    ws = await api.client.ws_connect(f"/api/v1/events?access_token={village.token}")
    await ws.receive_json()
    await ws.close()

    body = await scrape(api)
    assert requests_total(body, "POST", "/api/v1/users", 422) == 1
    assert requests_total(body, "POST", "/api/v1/users", 409) == 1
    assert requests_total(body, "GET", "/api/v1/users", 403) == 1
    assert requests_total(body, "GET", r"/api/v1/patients/{id}", 404) == 1
    assert requests_total(body, "GET", "/api/v1/patients", 401) == 1
    assert requests_total(body, "GET", "unmatched", 404) == 1
    assert requests_total(body, "POST", "/api/v1/auth/login", 200) == 2
    assert requests_total(body, "GET", "/api/v1/events", 101) == 1
    statuses = {
        dict(labels)["status"]
        for (name, labels) in samples(body)
        if name == "telecenter_http_requests_total"
    }
    assert "500" not in statuses, statuses


async def test_a_real_failure_is_counted_as_500(settings: Settings) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from web.app import create_app

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a handler bug")

    app = create_app(settings)
    app.router.add_get("/api/v1/broken", broken)
    async with TestClient(TestServer(app)) as client:
        async with client.get("/api/v1/broken") as r:
            assert r.status == 500
            assert (await r.json())["error"]["code"] == "internal_error"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with client.get("/metrics", headers=headers) as r:
            body = await r.read()
    assert requests_total(body, "GET", "/api/v1/broken", 500) == 1


async def test_metrics_need_the_token_or_an_administrator(api: Api) -> None:
    anonymous = await api.anonymous("GET", "/metrics")
    assert anonymous.status == 401 and anonymous.body["error"]["code"] == "unauthenticated"
    wrong = await api.anonymous("GET", "/metrics", headers={"Authorization": "Bearer " + "x" * 29})
    assert wrong.status == 401
    in_url = await api.anonymous("GET", f"/metrics?access_token={TOKEN}")
    assert in_url.status == 401  # a URL ends up in logs: the token only counts in the header
    village = await api.login("dr-village")
    assert (await village.get("/metrics")).status == 403
    admin = await api.login("admin")
    by_admin = await admin.get("/metrics")
    assert by_admin.status == 200 and b"telecenter_http_requests_total" in by_admin.body
    body = await scrape(api)
    assert requests_total(body, "GET", "/metrics", 401) == 3
    assert requests_total(body, "GET", "/metrics", 403) == 1
    assert b"telecenter_event_subscribers 0.0" in body
    assert b"telecenter_rooms_open 0.0" in body


async def test_without_a_token_only_an_administrator_reads_them(
    tmp_path: Path, seeded_database: Database
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from web.app import create_app

    app = create_app(make_settings(tmp_path, seeded_database))
    async with TestClient(TestServer(app)) as client:
        api = Api(client)
        assert (await api.anonymous("GET", "/metrics")).status == 401
        empty = await api.anonymous("GET", "/metrics", headers={"Authorization": "Bearer "})
        assert empty.status == 401
        assert (await (await api.login("admin")).get("/metrics")).status == 200


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(SettingsError, match="metrics_token"):
        load_settings(environ={"TELECENTER_METRICS_TOKEN": "short"})
