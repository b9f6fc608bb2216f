"""Nothing is filed on the wrong patient: studies that name a request (Accession Number) through
the real DICOM node (pynetdicom as the device) and STOW-RS, against the request's patient and
clinic; the reconciliation list and who may work it. SQLite and PostgreSQL (the db fixtures)."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from sqlalchemy import select

from consult.models import DiagnosticRequest, Institution, Patient, PatientRecordNumber
from ecg.store import EcgRecording
from imaging.index import ImagingReconciliation, ImagingStudy
from tests.conftest import ApiUser, Database
from tests.core.helpers import resident_id
from tests.imaging.conftest import Node, in_thread, make_ct, running_node, store_all

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

VILLAGE_DEVICE = "HEKOU-DR"  # a village clinic of another township (th-xihe)


@pytest.fixture
async def node(seeded_database: Database, tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(seeded_database, tmp_path, 0) as running:
        yield running


async def _patient(node: Node, clinic: str) -> tuple[Patient, str]:
    """The first demo patient of ``clinic`` and its record number there."""
    async with node.api.center.sessions() as session:
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


async def _imaging_request(user: ApiUser, patient_id: int) -> dict[str, Any]:
    body = {"patient_id": patient_id, "kind": "imaging_read", "clinical_question": "头痛"}
    return (await user.post("/api/v1/requests", body)).ok()  # type: ignore[no-any-return]


async def _filed(node: Node, study_uid: str) -> tuple[ImagingStudy, ImagingReconciliation | None]:
    await node.flush()
    async with node.api.center.sessions() as session:
        study = await session.scalar(
            select(ImagingStudy).where(ImagingStudy.study_uid == study_uid)
        )
        assert study is not None, study_uid
        item = await session.scalar(
            select(ImagingReconciliation).where(ImagingReconciliation.study_id == study.id)
        )
        return study, item


async def _send(node: Node, aet: str = "DEMO-CT", **fields: Any) -> str:
    study = generate_uid()
    ds = make_ct(study_uid=study, **fields)
    ds.SpecificCharacterSet = "ISO_IR 192"
    assert await in_thread(store_all, node.port, [ds], aet) == [0]
    return study


def _birth(patient: Patient) -> str:
    assert patient.birth_date is not None
    return f"{patient.birth_date:%Y%m%d}"


async def test_cstore_mismatch_matrix(node: Node) -> None:
    village = await node.api.login("dr-village")  # vc-liujia, under th-dongcheng (DEMO-CT's)
    township = await node.api.login("dr-township")  # th-xihe: another township
    admin = await node.api.login("admin")
    (
        await admin.post(
            "/api/v1/imaging/devices",
            {"ae_title": VILLAGE_DEVICE, "host": "127.0.0.1", "institution": "vc-hekou"},
        )
    ).ok()
    patient, number = await _patient(node, "vc-liujia")
    other, _ = await _patient(node, "th-xihe")
    request = await _imaging_request(village, patient.id)
    foreign = await _imaging_request(township, other.id)
    acc = request["identifier"]
    rid, sex, birth = patient.resident_id or "", patient.sex.value, _birth(patient)

    agreeing = {
        "resident ID": dict(patient_id=rid),
        "record number": dict(patient_id=number, patient_name="Someone^Else"),
        "name + birth + sex": dict(
            patient_id="CT-LOCAL-77", patient_name=patient.name, birth_date=birth, sex=sex
        ),
    }
    for case, fields in agreeing.items():
        study, item = await _filed(node, await _send(node, accession=acc, **fields))
        assert item is None, (case, item and item.reason)
        assert (study.patient_id, study.request_id) == (patient.id, request["id"]), case

    wrong_rid = resident_id("19580312", 991)
    disagreeing = {
        "other clinic's accession": (
            dict(patient_id=other.resident_id, accession=foreign["identifier"]),
            "DEMO-CT",
            "other_clinic",
        ),
        "unknown patient ID, accession of another township's request (the incident)": (
            dict(patient_id="HK-UNKNOWN-1", accession=acc),
            VILLAGE_DEVICE,
            "other_clinic",
        ),
        "conflicting resident ID": (
            dict(patient_id=wrong_rid, accession=acc),
            "DEMO-CT",
            "resident_id_conflict",
        ),
        "unknown patient ID, other demographics": (
            dict(patient_id="CT-LOCAL-78", patient_name="Wang^Wu", accession=acc),
            "DEMO-CT",
            "identity_unconfirmed",
        ),
        "no request, resident ID of another township's patient": (
            dict(patient_id=other.resident_id),
            "DEMO-CT",
            "other_clinic",
        ),
    }
    held: dict[str, int] = {}
    for case, (fields, aet, code) in disagreeing.items():
        study, item = await _filed(node, await _send(node, aet, **fields))
        assert item is not None, case
        assert item.reason_code == code, (case, item.reason_code, item.reason)
        assert study.patient_id is None and study.request_id is None, case
        held[case] = item.id

    radiologist = await node.api.login("radiologist")
    listed = {i["id"]: i for i in (await radiologist.get("/api/v1/imaging/reconciliation")).ok()}
    incident = listed[
        held["unknown patient ID, accession of another township's request (the incident)"]
    ]
    assert incident["reason_code"] == "other_clinic" and "乡镇" in incident["reason_zh"]
    assert incident["reason_en"] and incident["accession_number"] == acc

    # the sending clinic sees its waiting study but does not assign it; the radiologist does
    conflict = held["conflicting resident ID"]
    denied = await village.post(
        f"/api/v1/imaging/reconciliation/{conflict}/resolve", {"patient_id": patient.id}
    )
    assert denied.status == 403
    resolved = (
        await radiologist.post(
            f"/api/v1/imaging/reconciliation/{conflict}/resolve", {"patient_id": patient.id}
        )
    ).ok()
    assert resolved["patient_id"] == patient.id and resolved["request_id"] == request["id"]
    again = await radiologist.post(
        f"/api/v1/imaging/reconciliation/{conflict}/resolve", {"patient_id": patient.id}
    )
    assert again.status == 409
    auditor = await node.api.login("auditor")
    audits = (await auditor.get("/api/v1/audit?action=imaging.reconcile")).ok()
    mine = [a for a in audits if a["action"] == "imaging.reconcile"]
    assert [a["actor"] for a in mine if a["outcome"] == "success"] == ["radiologist"]
    assert any(a["outcome"] == "denied" for a in mine)
    # the ECG specialist does not see image studies; an unrelated role may not list at all
    ecg = await node.api.login("ecg-reader")
    assert all(
        i["modalities"] == "ECG" for i in (await ecg.get("/api/v1/imaging/reconciliation")).ok()
    )
    desk = await node.api.login("referral-desk")
    assert (await desk.get("/api/v1/imaging/reconciliation")).status == 403


def _multipart(datasets: list[Dataset]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b""
    for ds in datasets:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        body += (
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            + buffer.getvalue()
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


async def _stow(user: ApiUser, ds: Dataset) -> int:
    body, content_type = _multipart([ds])
    headers = {**user.headers, "Content-Type": content_type}
    async with user.client.post("/dicom-web/studies", data=body, headers=headers) as r:
        return r.status


async def test_stow_mismatch(node: Node) -> None:
    village = await node.api.login("dr-village")
    township = await node.api.login("dr-township")
    patient, _ = await _patient(node, "vc-liujia")
    request = await _imaging_request(village, patient.id)
    acc = request["identifier"]
    own = make_ct(study_uid=generate_uid(), patient_id=patient.resident_id or "", accession=acc)
    assert await _stow(village, own) == 200
    study, item = await _filed(node, str(own.StudyInstanceUID))
    assert item is None and (study.patient_id, study.request_id) == (patient.id, request["id"])
    # another township's clinic uploads for this request: held, not filed on the patient
    stray = make_ct(study_uid=generate_uid(), patient_id=patient.resident_id or "", accession=acc)
    assert await _stow(township, stray) == 200
    study, item = await _filed(node, str(stray.StudyInstanceUID))
    assert item is not None and item.reason_code == "other_clinic"
    assert study.patient_id is None and study.request_id is None
    # a specialist does not store through STOW
    radiologist = await node.api.login("radiologist")
    assert await _stow(radiologist, make_ct(study_uid=generate_uid())) == 403


async def test_two_radiologists_assign_at_once_one_wins(node: Node) -> None:
    village = await node.api.login("dr-village")
    township = await node.api.login("dr-township")
    patient, _ = await _patient(node, "vc-liujia")
    right, _ = await _patient(node, "th-xihe")
    request = await _imaging_request(village, patient.id)
    stray = make_ct(study_uid=generate_uid(), patient_id="XH-3", accession=request["identifier"])
    assert await _stow(township, stray) == 200
    _, item = await _filed(node, str(stray.StudyInstanceUID))
    assert item is not None
    first, second = await node.api.login("radiologist"), await node.api.login("admin")
    path = f"/api/v1/imaging/reconciliation/{item.id}/resolve"
    results = await asyncio.gather(
        first.post(path, {"patient_id": right.id}), second.post(path, {"patient_id": right.id})
    )
    assert sorted(r.status for r in results) == [200, 409]
    study, _ = await _filed(node, str(stray.StudyInstanceUID))
    assert study.patient_id == right.id
    opened = (await township.get(f"/api/v1/requests?patient_id={right.id}")).ok()
    assert [r["kind"] for r in opened] == ["imaging_read"]


async def test_dicom_ecg_held_then_filed_by_the_ecg_specialist(node: Node) -> None:
    """A DICOM ECG waveform naming another township's ECG request waits in the list of the
    ECG specialists (not the radiologists'); once assigned it reaches the ECG center."""
    township = await node.api.login("dr-township")
    other, _ = await _patient(node, "th-xihe")
    foreign = (
        await township.post(
            "/api/v1/requests",
            {"patient_id": other.id, "kind": "ecg_read", "clinical_question": "胸闷"},
        )
    ).ok()
    patient = (await node.patients())[0]  # th-dongcheng, DEMO-CT's own
    ds = dcmread(get_testdata_file("waveform_ecg.dcm"))
    ds.PatientID, ds.AccessionNumber = "DC-UNKNOWN", foreign["identifier"]
    assert await in_thread(store_all, node.port, [ds]) == [0]
    study, item = await _filed(node, str(ds.StudyInstanceUID))
    assert item is not None and item.reason_code == "other_clinic" and study.patient_id is None
    radiologist = await node.api.login("radiologist")
    assert all(
        i["id"] != item.id for i in (await radiologist.get("/api/v1/imaging/reconciliation")).ok()
    )
    reader = await node.api.login("ecg-reader")
    listed = (await reader.get("/api/v1/imaging/reconciliation")).ok()
    assert [i["modalities"] for i in listed if i["id"] == item.id] == ["ECG"]
    resolved = (
        await reader.post(
            f"/api/v1/imaging/reconciliation/{item.id}/resolve", {"patient_id": patient.id}
        )
    ).ok()
    assert resolved["patient_id"] == patient.id and resolved["request_id"] is None
    async with node.api.center.sessions() as session:
        recording = await session.scalar(
            select(EcgRecording).where(EcgRecording.patient_id == patient.id)
        )
        assert recording is not None and recording.format == "dicom"
        request = await session.get(DiagnosticRequest, recording.request_id)
        assert request is not None and request.id != foreign["id"]
        assert request.requesting_institution_id == study.institution_id
        assert not await session.scalar(
            select(EcgRecording.id).where(EcgRecording.patient_id == other.id)
        )
