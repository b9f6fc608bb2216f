"""Patient registration: resident ID checks, duplicates, search, record numbers."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient, resident_id

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


async def test_register_checks_resident_id(api: Api) -> None:
    village = await api.login("dr-village")
    rid = resident_id("19750615", 246)  # even order digit: a woman
    bad_check = rid[:-1] + ("0" if rid[-1] != "0" else "1")
    r = await village.post("/api/v1/patients", {"name": "甲", "sex": "F", "resident_id": bad_check})
    assert (
        r.status == 422
        and r.body["error"]["field"] == "resident_id"
        and "check character" in r.body["error"]["message"]
    )
    r = await village.post("/api/v1/patients", {"name": "甲", "sex": "M", "resident_id": rid})
    assert r.status == 422 and r.body["error"]["field"] == "sex"
    r = await village.post(
        "/api/v1/patients",
        {"name": "甲", "sex": "F", "resident_id": rid, "birth_date": "1975-06-16"},
    )
    assert r.status == 422 and r.body["error"]["field"] == "birth_date"
    created = (
        await village.post("/api/v1/patients", {"name": "甲", "sex": "F", "resident_id": rid})
    ).ok()
    assert created["birth_date"] == "1975-06-15"  # taken from the ID
    dup = await (await api.login("dr-township")).post(
        "/api/v1/patients", {"name": "乙", "sex": "F", "resident_id": rid}
    )
    assert dup.status == 409 and dup.body["error"]["field"] == "resident_id"


async def test_search_and_record_numbers(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "孙悟空", record_number="LJ-0099")
    assert patient["record_numbers"][0]["number"] == "LJ-0099"
    assert [p["id"] for p in (await village.get("/api/v1/patients?q=悟空")).ok()] == [patient["id"]]
    assert [p["id"] for p in (await village.get("/api/v1/patients?q=LJ-0099")).ok()] == [
        patient["id"]
    ]
    other = await new_patient(village, "猪八戒")
    clash = await village.post(
        f"/api/v1/patients/{other['id']}/record-numbers", {"number": "LJ-0099"}
    )
    assert clash.status == 409
    edited = (await village.patch(f"/api/v1/patients/{other['id']}", {"phone": "13912345678"})).ok()
    assert edited["phone"] == "13912345678"


async def test_bad_patient_input_is_422_not_500(api: Api) -> None:
    village = await api.login("dr-village")
    cases = [
        ({"name": "", "sex": "M"}, "name"),
        ({"name": "x", "sex": "Z"}, "sex"),
        ({"name": "x", "sex": "M", "birth_date": "1990-02-30"}, "birth_date"),
        ({"name": "x", "sex": "M", "birth_date": "2999-01-01"}, "birth_date"),
        ({"name": "x", "sex": "M", "surprise": 1}, "surprise"),
        ({"sex": "M"}, "name"),
    ]
    for body, field in cases:
        r = await village.post("/api/v1/patients", body)
        assert r.status == 422, (body, r.body)
        assert r.body["error"]["field"] == field, (body, r.body)
