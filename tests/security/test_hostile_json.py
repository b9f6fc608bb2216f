"""Issue 19.4 and 19.13: hostile JSON is refused at the door, and no stored row breaks a list."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from consult.models import DiagnosticRequest
from tests.conftest import Api, ApiUser, Resp
from tests.core.helpers import new_patient, new_request


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"a": value}
    return value


async def _count_requests(user: ApiUser) -> int:
    return len((await user.get("/api/v1/requests?limit=500")).ok())


async def post_raw(user: ApiUser, path: str, raw: str) -> Resp:
    """POST text as it is (the client's JSON encoder would refuse some of it)."""
    headers = {**user.headers, "Content-Type": "application/json"}
    async with user.client.post(path, data=raw.encode(), headers=headers) as r:
        return Resp(r.status, await r.json())


async def _still_serves(api: Api) -> None:
    other = await api.login("dr-township")
    (await other.get("/api/v1/requests")).ok()


@pytest.mark.parametrize(
    ("details", "why"),
    [
        (deep(300), "nested deeper"),
        (deep(17), "nested deeper"),
        ({"k": "x" * 70_000}, "KiB"),
        ({f"k{i}": i for i in range(2500)}, "keys and items"),
        ({"n": 1 << 64}, "64 bits"),
        ({"t": "a\x00b"}, "NUL"),
    ],
)
async def test_hostile_details_are_refused_and_nothing_is_stored(
    api: Api, details: dict[str, Any], why: str
) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "深层")
    before = await _count_requests(village)
    body = {"patient_id": patient["id"], "kind": "ecg_read", "details": details}
    refused = await village.post("/api/v1/requests", body)
    assert refused.status == 422, refused.body
    assert refused.body["error"]["field"] == "details"
    assert why in refused.body["error"]["message"]
    assert await _count_requests(village) == before
    await _still_serves(api)


async def test_within_limits_details_are_kept(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "浅层")
    body = {"patient_id": patient["id"], "kind": "ecg_read", "details": deep(10)}
    made = (await village.post("/api/v1/requests", body)).ok()
    assert made["details"] == deep(10)


async def test_a_body_nested_beyond_the_parser_is_422(api: Api) -> None:
    village = await api.login("dr-village")
    raw = '{"patient_id": 1, "kind": "ecg_read", "details": ' + "[" * 200_000 + "]" * 200_000
    refused = await post_raw(village, "/api/v1/requests", raw + "}")
    assert refused.status == 422, refused.body
    await _still_serves(api)


async def test_a_deep_stored_row_never_breaks_the_lists(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village, "旧行")
    poisoned = await new_request(village, patient["id"])
    fine = await new_request(village, patient["id"])
    # as an old row written before the door was checked
    async with api.center.sessions() as session, session.begin():
        await session.execute(
            update(DiagnosticRequest)
            .where(DiagnosticRequest.id == poisoned["id"])
            .values(details=deep(300))
        )
    listed = {r["id"]: r for r in (await village.get("/api/v1/requests")).ok()}
    assert listed[poisoned["id"]]["details"] == {"_omitted": "stored value could not be shown"}
    assert fine["id"] in listed
    worklist = {r["id"] for r in (await reader.get("/api/v1/worklist")).ok()}
    assert {poisoned["id"], fine["id"]} <= worklist
    assert (await village.get(f"/api/v1/requests/{poisoned['id']}")).ok()["id"] == poisoned["id"]
    (await village.get("/api/v1/inbox")).ok()
    (await village.get("/api/v1/notifications")).ok()
    (await reader.get("/api/v1/notifications")).ok()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "ecg_read", "patient_id": 1 << 70}, "patient_id"),
        ({"kind": "ecg_read", "patient_id": 1e20}, "patient_id"),
        ({"kind": "ecg_read", "clinical_question": "胸痛\x00"}, "clinical_question"),
        ({"kind": "ecg_read", "clinical_question": "\ud800"}, "clinical_question"),
    ],
)
async def test_big_integers_nul_and_surrogates_in_a_body_are_422(
    api: Api, body: dict[str, Any], field: str
) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "边界")
    body = {"patient_id": patient["id"], **body}
    # ASCII escapes: the lone surrogate travels as \\ud800, which the server decodes
    refused = await post_raw(village, "/api/v1/requests", json.dumps(body))
    assert refused.status == 422, refused.body
    assert refused.body["error"]["field"] == field
    await _still_serves(api)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/requests/99999999999999999999999",
        "/api/v1/patients/99999999999999999999999",
        "/api/v1/requests?patient_id=99999999999999999999999",
        "/api/v1/audit?since=0001-01-01T00:00:00%2B05:00",
        "/api/v1/audit?until=9999-12-31T23:59:59-05:00",
        "/api/v1/audit?since=10000-01-01T00:00:00Z",
        "/api/v1/audit?since=99999999999999999999",
        "/api/v1/audit?since=2024-02-30T00:00:00Z",
    ],
)
async def test_out_of_range_numbers_and_dates_are_4xx(api: Api, path: str) -> None:
    auditor = await api.login("auditor")
    answer = await auditor.get(path)
    assert 400 <= answer.status < 500, (answer.status, answer.body)
    await _still_serves(api)


async def test_consent_expiry_far_in_the_future_is_422(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "远期", consent=False)
    answer = await village.post(
        f"/api/v1/patients/{patient['id']}/consents",
        {"scope": "records", "expires_at": "9999-12-31T23:59:59-05:00"},
    )
    assert answer.status == 422, answer.body
    assert answer.body["error"]["field"] == "expires_at"


@pytest.mark.parametrize("path", ["/static/%00", "/static/js/%00app.js", "/static/v/x/a%00b"])
async def test_nul_in_a_static_path_is_404(api: Api, path: str) -> None:
    answer = await api.anonymous("GET", path)
    assert answer.status in (400, 404), answer.status
    assert (await api.anonymous("GET", "/static/js/api.js")).status == 200
    await _still_serves(api)
