"""The patient's history through the API: scope, serial comparison, audit, other clinics' 404."""

from __future__ import annotations

from tests.conftest import Api
from tests.core.helpers import new_patient
from tests.ecg_center.files import normal_zip, stemi_zip
from tests.ecg_center.test_ecg_api import upload


async def test_history_compares_with_the_prior_ecg_and_is_scoped(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    other = await api.login("dr-township")
    auditor = await api.login("auditor")
    patient = await new_patient(village, "既往心电")
    s1, prior = await upload(village, patient["id"], normal_zip(seed=2), "prior.zip")
    s2, current = await upload(village, patient["id"], stemi_zip(seed=2), "current.zip")
    assert (s1, s2) == (201, 201), (prior, current)
    request_id = current["request"]["id"]
    url = f"/api/v1/patients/{patient['id']}/history?request_id={request_id}"
    body = (await reader.get(url)).ok()
    newest, older = body["ecgs"]
    assert newest["id"] == current["ecg"]["id"] and newest["current"] is True
    assert older["id"] == prior["ecg"]["id"] and older["comparison"] is None
    cmp = newest["comparison"]
    a, b = prior["ecg"]["analysis"], current["ecg"]["analysis"]
    qrs = next(c for c in cmp["changes"] if c["name"] == "qrs_ms")
    assert qrs["delta"] == b["intervals"]["qrs_ms"] - a["intervals"]["qrs_ms"]
    assert "NEW_STEMI" in {f["code"] for f in cmp["flags"]}, cmp["flags"]
    assert [r["id"] for r in body["requests"]] == [prior["request"]["id"]]  # not the current
    assert body["labs"] == [] and body["studies"] == []
    # the read is audited against the patient
    rows = (await auditor.get("/api/v1/audit?action=patient.history")).ok()
    assert any(
        r["actor_id"] == reader.me["id"] and r["patient_id"] == patient["id"] for r in rows
    ), rows
    # another clinic: 404, and the refusal is audited too
    refused = await other.get(url)
    assert refused.status == 404, refused.body
    assert (await reader.get("/api/v1/patients/999999/history")).status == 404
    assert (
        await reader.get(f"/api/v1/patients/{patient['id']}/history?request_id=x")
    ).status == 422
