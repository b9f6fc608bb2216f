"""FHIR Observations: released lab results (LOINC-coded) and ECG measurements, validated with
fhir.resources (R4B models), scoped and audited as the API."""

from __future__ import annotations

from typing import Any

from consult.fhir.observations import ECG_MEASURES
from tests.conftest import Api, ApiUser
from tests.core.helpers import new_patient
from tests.ecg_center.files import normal_zip
from tests.ecg_center.test_ecg_api import upload
from tests.fhir.test_fhir_api import audit_rows, fhir_get

LOINC = "http://loinc.org"
K = "2823-3"  # potassium, in the seed catalogue


async def released_potassium(api: Api, village: ApiUser, patient_id: int) -> dict[str, Any]:
    tech = await api.login("lab-tech")
    order = (
        await village.post("/api/v1/lab/orders", {"patient_id": patient_id, "tests": [K]})
    ).ok()
    for specimen in order["specimens"]:
        sid = specimen["id"]
        (await village.post(f"/api/v1/lab/specimens/{sid}/collect", {"collected_by": "护士"})).ok()
        (await village.post(f"/api/v1/lab/specimens/{sid}/ship")).ok()
        (await tech.post(f"/api/v1/lab/specimens/{sid}/receive")).ok()
    body = {"results": [{"code": K, "value": "4.1", "unit": "mmol/L"}]}
    (await tech.post(f"/api/v1/lab/orders/{order['id']}/results", body)).ok()
    return order  # type: ignore[no-any-return]


async def test_lab_results_appear_when_released_with_loinc(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "韩十三")
    order = await released_potassium(api, village, patient["id"])
    _, before = await fhir_get(village, api, f"/fhir/Observation?patient={patient['id']}")
    assert before["total"] == 0  # preliminary results are not shared
    supervisor = await api.login("lab-supervisor")
    (await supervisor.post(f"/api/v1/lab/orders/{order['id']}/release")).ok()

    status, found = await fhir_get(
        village, api, f"/fhir/Observation?patient={patient['id']}&category=laboratory"
    )
    assert status == 200 and found["total"] == 1
    obs = found["entry"][0]["resource"]
    coding = obs["code"]["coding"][0]
    assert (coding["system"], coding["code"]) == (LOINC, K)
    assert obs["valueQuantity"]["value"] == 4.1 and obs["status"] == "final"
    assert obs["basedOn"][0]["reference"] == f"ServiceRequest/{order['request_id']}"
    _, by_code = await fhir_get(
        village, api, f"/fhir/Observation?patient={patient['id']}&code={LOINC}|{K}"
    )
    assert by_code["total"] == 1
    _, other_code = await fhir_get(
        village, api, f"/fhir/Observation?patient={patient['id']}&code={LOINC}|718-7"
    )
    assert other_code["total"] == 0
    status, read = await fhir_get(village, api, f"/fhir/Observation/{obs['id']}")
    assert status == 200 and read == obs
    other = await api.login("dr-township")
    assert (await fhir_get(other, api, f"/fhir/Observation/{obs['id']}"))[0] == 404
    _, none = await fhir_get(other, api, f"/fhir/Observation?patient={patient['id']}")
    assert none["total"] == 0
    reads = await audit_rows(api, "fhir.observation.read")
    assert patient["id"] in {r.patient_id for r in reads}


async def test_ecg_measurements_with_loinc_components(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "杨十四")
    status, body = await upload(village, patient["id"], normal_zip(), "normal.zip")
    assert status == 201, body
    _, found = await fhir_get(
        village, api, f"/fhir/Observation?patient={patient['id']}&category=procedure"
    )
    assert found["total"] == 1
    obs = found["entry"][0]["resource"]
    assert obs["id"] == f"ecg-{body['ecg']['id']}"
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in obs["component"]}
    assert set(components) == {code for code, _, _ in ECG_MEASURES.values()}
    assert 40 <= components["8867-4"]["value"] <= 120 and components["8867-4"]["unit"] == "/min"
    assert 300 <= components["8636-3"]["value"] <= 500 and components["8636-3"]["unit"] == "ms"
    _, by_qtc = await fhir_get(
        village, api, f"/fhir/Observation?patient={patient['id']}&code=8636-3"
    )
    assert by_qtc["total"] == 1
    status, read = await fhir_get(village, api, f"/fhir/Observation/{obs['id']}")
    assert status == 200 and read == obs
    other = await api.login("dr-township")
    assert (await fhir_get(other, api, f"/fhir/Observation/{obs['id']}"))[0] == 404
