"""Consent and the emergency override."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient, new_request

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


async def test_specialist_needs_consent_or_override(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    auditor = await api.login("auditor")
    patient = await new_patient(village, "无同意", consent=False)
    request = await new_request(village, patient["id"])

    # the request shows on the worklist, but masked; the record is refused with a reason
    item = next(r for r in (await reader.get("/api/v1/worklist")).ok() if r["id"] == request["id"])
    assert item["patient"] is None and item["clinical_question"] == ""
    refused = await reader.get(f"/api/v1/patients/{patient['id']}")
    assert refused.status == 403 and refused.body["error"]["code"] == "consent_required"
    assert (await reader.get(f"/api/v1/requests/{request['id']}")).status == 403

    # an override needs a real reason
    short = await reader.post(
        f"/api/v1/patients/{patient['id']}/emergency-access", {"reason": "急"}
    )
    assert short.status == 422 and short.body["error"]["field"] == "reason"
    override = (
        await reader.post(
            f"/api/v1/patients/{patient['id']}/emergency-access",
            {"reason": "疑似急性心梗, 家属无法联系"},
        )
    ).ok()
    assert override["user_id"] == reader.me["id"]
    assert (await reader.get(f"/api/v1/patients/{patient['id']}")).status == 200
    # the override is personal: another specialist is still refused
    assert (
        await (await api.login("internist")).get(f"/api/v1/patients/{patient['id']}")
    ).status in (403, 404)

    records = (await auditor.get(f"/api/v1/audit?patient_id={patient['id']}")).ok()
    actions = {(r["action"], r["outcome"]) for r in records}
    assert ("consent.override", "success") in actions
    assert ("patient.read", "denied") in actions and ("patient.read", "success") in actions
    override_record = next(r for r in records if r["action"] == "consent.override")
    assert (
        override_record["detail"]["reason"] == "疑似急性心梗, 家属无法联系"
        and override_record["actor"] == "ecg-reader"
    )


async def test_consent_withdrawal_stops_access(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village, consent=False)
    consent = (
        await village.post(
            f"/api/v1/patients/{patient['id']}/consents", {"scope": "records", "note": "书面同意"}
        )
    ).ok()
    await new_request(village, patient["id"])
    assert (await reader.get(f"/api/v1/patients/{patient['id']}")).status == 200
    withdrawn = (await village.post(f"/api/v1/consents/{consent['id']}/withdraw")).ok()
    assert withdrawn["withdrawn_at"]
    assert (await reader.get(f"/api/v1/patients/{patient['id']}")).status == 403
    assert (await village.post(f"/api/v1/consents/{consent['id']}/withdraw")).status == 409
    assert (await reader.post(f"/api/v1/consents/{consent['id']}/withdraw")).status in (403, 404)
    past = await village.post(
        f"/api/v1/patients/{patient['id']}/consents", {"expires_at": "2000-01-01T00:00:00Z"}
    )
    assert past.status == 422 and past.body["error"]["field"] == "expires_at"


async def test_clinic_needs_no_override(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, consent=False)
    assert (await village.get(f"/api/v1/patients/{patient['id']}")).status == 200
    r = await village.post(
        f"/api/v1/patients/{patient['id']}/emergency-access", {"reason": "not needed at all"}
    )
    assert r.status == 403
