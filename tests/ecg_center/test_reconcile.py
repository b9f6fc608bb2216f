"""Nothing is filed on the wrong patient, for ECG uploads: the upload that names a request
(request_id or accession) must agree with its patient and come from its clinic or township;
held uploads wait for an ECG specialist. SQLite and PostgreSQL (the db fixtures)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from consult.models import Institution, Patient, PatientRecordNumber
from tests.conftest import Api, ApiUser
from tests.core.helpers import new_request, resident_id
from tests.ecg_center.files import normal_zip

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


async def upload(user: ApiUser, data: bytes, **fields: Any) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, str(value))
    form.add_field("file", data, filename="ecg.zip", content_type="application/octet-stream")
    async with user.client.post("/api/v1/ecgs", data=form, headers=user.headers) as r:
        return r.status, await r.json()


async def _patient(api: Api, clinic: str) -> tuple[Patient, str]:
    async with api.center.sessions() as session:
        patient = await session.scalar(
            select(Patient)
            .join(Institution, Institution.id == Patient.home_institution_id)
            .where(Institution.code == clinic)
            .order_by(Patient.id)
            .limit(1)
        )
        assert patient is not None
        number = await session.scalar(
            select(PatientRecordNumber.number).where(PatientRecordNumber.patient_id == patient.id)
        )
        assert number is not None
        return patient, number


async def test_ecg_upload_mismatch_matrix(api: Api) -> None:
    village = await api.login("dr-village")  # vc-liujia (th-dongcheng)
    township = await api.login("dr-township")  # th-xihe: another township
    patient, number = await _patient(api, "vc-liujia")
    other, _ = await _patient(api, "th-xihe")
    request = await new_request(village, patient.id)
    acc = request["identifier"]
    assert patient.birth_date is not None
    agreeing = {
        "resident ID": {"resident_id": patient.resident_id},
        "record number": {"record_number": number},
        "name + birth + sex": {
            "record_number": "CART-0042",
            "patient_name": patient.name,
            "birth_date": patient.birth_date.isoformat(),
            "sex": patient.sex.value,
        },
        "the clinic's own pick": {"patient_id": patient.id},
    }
    for seed, (case, fields) in enumerate(agreeing.items(), start=40):
        status, body = await upload(village, normal_zip(seed=seed), accession=acc, **fields)
        assert status == 201, (case, body)
        assert body["request"]["id"] == request["id"], case
        assert body["ecg"]["patient_id"] == patient.id, case

    disagreeing = {
        "other clinic's accession": (township, {"resident_id": other.resident_id}, "other_clinic"),
        "unknown patient ID + accession from the wrong clinic": (
            township,
            {"record_number": "XH-NOBODY"},
            "other_clinic",
        ),
        "conflicting resident ID": (
            village,
            {"resident_id": resident_id("19580312", 993)},
            "resident_id_conflict",
        ),
        "another patient of the clinic": (
            village,
            {"patient_id": (await _patient(api, "vc-liujia"))[0].id + 1},
            "other_patient",
        ),
        "nothing confirms the patient": (
            village,
            {"record_number": "CART-0043", "patient_name": "王五"},
            "identity_unconfirmed",
        ),
    }
    held: dict[str, int] = {}
    for seed, (case, (user, fields, code)) in enumerate(disagreeing.items(), start=60):
        status, body = await upload(user, normal_zip(seed=seed), accession=acc, **fields)
        assert status == 202, (case, status, body)
        assert body["held"]["reason_code"] == code, (case, body)
        assert body["held"]["reason_zh"] and body["held"]["reason_en"]
        held[case] = body["held"]["id"]
    # nothing of those reached the request, nor any patient
    ecgs = (await village.get(f"/api/v1/requests/{request['id']}/ecgs")).ok()
    assert len(ecgs) == len(agreeing)
    # request_id of another township's request: held too (no 404 that hides the mix-up)
    status, body = await upload(
        township, normal_zip(seed=80), request_id=request["id"], patient_id=other.id
    )
    assert status == 202 and body["held"]["reason_code"] == "other_clinic"

    reader = await api.login("ecg-reader")
    listed = {i["id"]: i for i in (await reader.get("/api/v1/ecgs/reconciliation")).ok()}
    assert set(held.values()) <= set(listed)
    own = (await township.get("/api/v1/ecgs/reconciliation")).ok()
    assert {i["institution_id"] for i in own} == {township.me["institution_id"]}
    item = held["conflicting resident ID"]
    denied = await village.post(
        f"/api/v1/ecgs/reconciliation/{item}/resolve", {"patient_id": patient.id}
    )
    assert denied.status == 403
    radiologist = await api.login("radiologist")
    denied = await radiologist.post(
        f"/api/v1/ecgs/reconciliation/{item}/resolve", {"patient_id": patient.id}
    )
    assert denied.status == 403
    resolved = (
        await reader.post(f"/api/v1/ecgs/reconciliation/{item}/resolve", {"patient_id": patient.id})
    ).ok()
    assert resolved["patient_id"] == patient.id and resolved["ecg_id"]
    ecgs = (await village.get(f"/api/v1/requests/{request['id']}/ecgs")).ok()
    assert resolved["ecg_id"] in {e["id"] for e in ecgs}
    again = await reader.post(
        f"/api/v1/ecgs/reconciliation/{item}/resolve", {"patient_id": patient.id}
    )
    assert again.status == 409
    # the reader may not file a held ECG on a patient the sending clinic does not know
    foreign = held["other clinic's accession"]
    wrong = await reader.post(
        f"/api/v1/ecgs/reconciliation/{foreign}/resolve", {"patient_id": patient.id}
    )
    assert wrong.status == 404
    assert foreign in {i["id"] for i in (await reader.get("/api/v1/ecgs/reconciliation")).ok()}
    auditor = await api.login("auditor")
    audits = (await auditor.get("/api/v1/audit?action=ecg.reconcile")).ok()
    filed = [a for a in audits if a["action"] == "ecg.reconcile" and a["outcome"] == "success"]
    assert [a["actor"] for a in filed] == ["ecg-reader"]
    assert any(a["outcome"] == "denied" for a in audits if a["action"] == "ecg.reconcile")
    holds = [a for a in audits if a["action"] == "ecg.reconcile.hold"]
    assert len(holds) == len(disagreeing) + 1


async def test_two_reconcilers_at_once_one_wins(api: Api) -> None:
    township = await api.login("dr-township")
    village = await api.login("dr-village")
    patient, _ = await _patient(api, "vc-liujia")
    right, _ = await _patient(api, "th-xihe")
    request = await new_request(village, patient.id)
    status, body = await upload(
        township, normal_zip(seed=95), accession=request["identifier"], record_number="X-2"
    )
    assert status == 202, body
    item = body["held"]["id"]
    first, second = await api.login("ecg-reader"), await api.login("admin")
    path = f"/api/v1/ecgs/reconciliation/{item}/resolve"
    results = await asyncio.gather(
        first.post(path, {"patient_id": right.id}), second.post(path, {"patient_id": right.id})
    )
    assert sorted(r.status for r in results) == [200, 409]
    filed = (await township.get(f"/api/v1/requests?patient_id={right.id}")).ok()
    assert len(filed) == 1
    assert len((await township.get(f"/api/v1/requests/{filed[0]['id']}/ecgs")).ok()) == 1
