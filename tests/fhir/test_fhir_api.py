"""The FHIR R4 read API on a real server: resources validate (fhir.resources, R4B models: the
package ships no plain R4), scoping and consent as in /api/v1, audit, OperationOutcome errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select

from consult.fhir import RECORD_NUMBER_SYSTEM, RESIDENT_ID_SYSTEM
from consult.models import AuditRecord
from tests.conftest import DEMO_PASSWORD, Api, ApiUser
from tests.core.helpers import new_patient, new_request, resident_id
from tests.core.test_referrals import signed_ecg_report

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

FHIR_JSON = "application/fhir+json"


async def fhir_get(user: ApiUser | None, api: Api, path: str) -> tuple[int, dict[str, Any]]:
    """GET a FHIR path; the body must be FHIR JSON and validate as the resource it names."""
    headers = user.headers if user else {}
    if user is None:
        api.client.session.cookie_jar.clear()
    async with api.client.get(path, headers=headers) as r:
        assert r.content_type == FHIR_JSON, (r.status, r.content_type, await r.text())
        body = json.loads(await r.text())
    validate(body)
    return r.status, body


def validate(resource: dict[str, Any]) -> None:
    """Validate with fhir.resources (every entry of a Bundle too)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    for entry in resource.get("entry", []):
        validate(entry["resource"])


async def audit_rows(api: Api, action: str) -> list[AuditRecord]:
    await api.center.audit_log.drain()
    async with api.center.sessions() as session:
        rows = await session.scalars(select(AuditRecord).where(AuditRecord.action == action))
        return list(rows)


async def test_patient_read_and_search_validate_and_are_audited(api: Api) -> None:
    village = await api.login("dr-village")
    rid = resident_id("19800101", 123)
    patient = await new_patient(village, "冯八", resident_id=rid, record_number="LJ-9001")
    status, body = await fhir_get(village, api, f"/fhir/Patient/{patient['id']}")
    assert status == 200 and body["id"] == str(patient["id"])
    assert {"system": RESIDENT_ID_SYSTEM, "value": rid, "use": "official"} in body["identifier"]
    reads = await audit_rows(api, "fhir.patient.read")
    assert [r.patient_id for r in reads] == [patient["id"]]

    status, found = await fhir_get(
        village, api, f"/fhir/Patient?identifier={RESIDENT_ID_SYSTEM}|{rid}"
    )
    assert status == 200 and found["total"] == 1
    assert found["entry"][0]["resource"]["id"] == str(patient["id"])
    number = next(i for i in body["identifier"] if i["system"].startswith(RECORD_NUMBER_SYSTEM))
    _, by_number = await fhir_get(
        village, api, f"/fhir/Patient?identifier={number['system']}|LJ-9001"
    )
    assert by_number["total"] == 1
    _, by_name = await fhir_get(village, api, "/fhir/Patient?name=冯八")
    assert [e["resource"]["id"] for e in by_name["entry"]] == [str(patient["id"])]
    searches = await audit_rows(api, "fhir.patient.search")
    assert patient["id"] in {r.patient_id for r in searches}

    api.client.session.cookie_jar.clear()
    async with api.client.post(
        "/api/v1/auth/login", json={"username": "dr-village", "password": DEMO_PASSWORD}
    ) as r:
        assert r.status == 200  # the pages' session cookie, no Authorization header
    async with api.client.get(f"/fhir/Patient/{patient['id']}") as r:
        assert r.status == 200 and r.content_type == FHIR_JSON


async def test_other_clinics_patient_is_404_and_not_found_by_search(api: Api) -> None:
    village = await api.login("dr-village")
    other = await api.login("dr-township")
    rid = resident_id("19800101", 231)
    patient = await new_patient(village, "褚九", resident_id=rid)
    status, body = await fhir_get(other, api, f"/fhir/Patient/{patient['id']}")
    assert status == 404 and body["issue"][0]["code"] == "not-found"
    api_status = (await other.get(f"/api/v1/patients/{patient['id']}")).status
    assert api_status == status  # exactly as the API answers
    _, found = await fhir_get(other, api, f"/fhir/Patient?identifier={rid}")
    assert found["total"] == 0 and not found.get("entry")
    denied = await audit_rows(api, "fhir.patient.read")
    assert [(r.patient_id, str(r.outcome)) for r in denied] == [(patient["id"], "denied")]


async def test_county_specialist_needs_consent_as_in_the_api(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village, "卫十", consent=False)
    request = await new_request(village, patient["id"], "ecg_read")
    for path in (f"/fhir/Patient/{patient['id']}", f"/fhir/ServiceRequest/{request['id']}"):
        status, body = await fhir_get(reader, api, path)
        api_path = path.replace("/fhir/Patient", "/api/v1/patients").replace(
            "/fhir/ServiceRequest", "/api/v1/requests"
        )
        assert status == (await reader.get(api_path)).status == 403, body
        assert body["issue"][0]["code"] == "forbidden"
    for path in (
        "/fhir/Patient?name=卫十",
        f"/fhir/ServiceRequest?patient={patient['id']}",
        f"/fhir/DiagnosticReport?patient=Patient/{patient['id']}",
    ):
        _, found = await fhir_get(reader, api, path)
        assert found["total"] == 0, path
    (await village.post(f"/api/v1/patients/{patient['id']}/consents", {"scope": "records"})).ok()
    _, found = await fhir_get(reader, api, f"/fhir/ServiceRequest?patient={patient['id']}")
    assert found["total"] == 1
    assert (await fhir_get(reader, api, f"/fhir/Patient/{patient['id']}"))[0] == 200


async def test_signed_report_and_request_validate_and_search(api: Api) -> None:
    report = await signed_ecg_report(api)
    village = await api.login("dr-village")
    status, body = await fhir_get(village, api, f"/fhir/DiagnosticReport/{report['id']}")
    assert status == 200 and body["status"] == "final"
    assert body["code"]["coding"][0]["code"] == "11524-6"
    request_ref = body["basedOn"][0]["reference"]
    patient_ref = body["subject"]["reference"]
    status, request = await fhir_get(village, api, f"/fhir/{request_ref}")
    assert status == 200 and request["subject"]["reference"] == patient_ref
    assert request["status"] == "completed" and request["priority"] == "stat"
    patient_id = patient_ref.split("/")[1]
    _, reports = await fhir_get(
        village, api, f"/fhir/DiagnosticReport?patient={patient_id}&status=final,amended"
    )
    assert [e["resource"]["id"] for e in reports["entry"]] == [str(report["id"])]
    _, none = await fhir_get(
        village, api, f"/fhir/DiagnosticReport?patient={patient_id}&date=lt2000"
    )
    assert none["total"] == 0
    _, today = await fhir_get(
        village, api, f"/fhir/DiagnosticReport?patient={patient_id}&date=ge2000-01-01"
    )
    assert today["total"] == 1
    other = await api.login("dr-township")
    assert (await fhir_get(other, api, f"/fhir/DiagnosticReport/{report['id']}"))[0] == 404
    assert (await fhir_get(other, api, f"/fhir/{request_ref}"))[0] == 404
    reads = await audit_rows(api, "fhir.report.read")
    assert int(patient_id) in {r.patient_id for r in reads}

    reader = await api.login("ecg-reader")
    amended = (
        await reader.post(
            f"/api/v1/reports/{report['id']}/amend",
            {"reason": "补充: 下壁导联对应性改变", "impression": "急性前壁心肌梗死 (更正)"},
        )
    ).ok()
    _, current = await fhir_get(village, api, f"/fhir/DiagnosticReport?patient={patient_id}")
    assert [(e["resource"]["id"], e["resource"]["status"]) for e in current["entry"]] == [
        (str(amended["id"]), "amended")
    ]
    assert (await fhir_get(village, api, f"/fhir/DiagnosticReport/{report['id']}"))[0] == 200

    # a draft is never a DiagnosticReport, not even for its author
    patient = await new_patient(village, "蒋十一")
    request = await new_request(village, patient["id"], "ecg_read")
    (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    draft = (
        await reader.post(f"/api/v1/requests/{request['id']}/reports", {"findings": "草稿"})
    ).ok()
    assert (await fhir_get(reader, api, f"/fhir/DiagnosticReport/{draft['id']}"))[0] == 404
    _, drafts = await fhir_get(reader, api, f"/fhir/DiagnosticReport?patient={patient['id']}")
    assert drafts["total"] == 0


async def test_searchset_paging_with_total_and_next_links(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "沈十二")
    for _ in range(5):
        await new_request(village, patient["id"], "lab_test")
    path = f"/fhir/ServiceRequest?patient={patient['id']}&_count=2"
    seen: list[str] = []
    pages = 0
    while path:
        status, page = await fhir_get(village, api, path)
        assert status == 200 and page["total"] == 5 and page["type"] == "searchset"
        assert len(page["entry"]) <= 2
        seen += [e["resource"]["id"] for e in page["entry"]]
        links = {link["relation"]: link["url"] for link in page["link"]}
        assert "self" in links and "access_token" not in links["self"]
        nxt = links.get("next")
        path = nxt[nxt.index("/fhir/") :] if nxt else ""
        pages += 1
    assert pages == 3 and len(set(seen)) == 5


async def test_bad_input_is_a_400_operation_outcome(api: Api) -> None:
    village = await api.login("dr-village")
    for path in (
        "/fhir/Patient/abc",
        "/fhir/Patient/0",
        "/fhir/Patient/99999999999999999999999",
        "/fhir/DiagnosticReport/1.5",
        "/fhir/Patient?foo=bar",
        "/fhir/Patient?_count=0",
        "/fhir/Patient?_count=1000",
        "/fhir/Patient?_count=x",
        "/fhir/Patient?_offset=-1",
        "/fhir/Patient?name=",
        "/fhir/Patient?name=%00",
        f"/fhir/Patient?name={'x' * 300}",
        "/fhir/Patient?identifier=%00|1",
        "/fhir/Patient?_format=xml",
        "/fhir/ServiceRequest?status=bogus",
        "/fhir/ServiceRequest?patient=Practitioner/1",
        "/fhir/ServiceRequest?patient=abc",
        "/fhir/DiagnosticReport?date=yesterday",
        "/fhir/DiagnosticReport?date=2024-13-01",
        "/fhir/DiagnosticReport?date=xx2024",
        "/fhir/DiagnosticReport?date=9999-12-31",
        "/fhir/DiagnosticReport?date=2024-01-01T25:00",
        "/fhir/DiagnosticReport?status=final&status=amended",
        "/fhir/Observation/12",
        "/fhir/Observation/lab-",
        "/fhir/Observation/lab-0",
        "/fhir/Observation/img-3",
        "/fhir/Observation?category=vital-signs",
        "/fhir/Observation?code=",
        "/fhir/Observation?code=http://loinc.org|",
        "/fhir/Observation?date=ge2024-02-30",
    ):
        status, body = await fhir_get(village, api, path)
        assert status == 400, (path, status, body)
        assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "invalid"


async def test_metadata_public_unknown_type_404_unauthenticated_401(api: Api) -> None:
    """The CapabilityStatement needs no token; everything else does; no route is a 404."""
    status, body = await fhir_get(None, api, "/fhir/metadata")
    assert status == 200 and body["fhirVersion"] == "4.0.1"
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert {"Patient", "ServiceRequest", "DiagnosticReport", "Observation"} <= types
    village = await api.login("dr-village")
    status, body = await fhir_get(village, api, "/fhir/Practitioner/1")
    assert status == 404 and body["issue"][0]["code"] == "not-found"
    async with api.client.post("/fhir/Patient", json={}, headers=village.headers) as r:
        assert r.status == 405 and r.content_type == FHIR_JSON
        validate(json.loads(await r.text()))
    for path in ("/fhir/Patient/1", "/fhir/Patient?name=x", "/fhir/DiagnosticReport"):
        status, body = await fhir_get(None, api, path)
        assert status == 401 and body["issue"][0]["code"] == "login", path
    async with api.client.get(
        "/fhir/Patient/1", headers={"Authorization": "Bearer not-a-token"}
    ) as r:
        assert r.status == 401 and r.content_type == FHIR_JSON
