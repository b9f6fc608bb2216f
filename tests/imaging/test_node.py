"""The DICOM node with pynetdicom as the remote device: echo, store, link, find, get, move."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, _config, build_role, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from sqlalchemy import func, select

from consult.models import DiagnosticRequest
from consult.vocab import RequestKind
from imaging.index import ImagingInstance, ImagingReconciliation, ImagingStudy
from tests.imaging.conftest import DEVICE, Node, free_port, in_thread, make_ct, scu, store_all


def echo(port: int, aet: str) -> tuple[bool, int | None]:
    assoc = scu(aet, [Verification]).associate("127.0.0.1", port, ae_title="TELECENTER")
    if not assoc.is_established:
        return False, None
    status = assoc.send_c_echo()
    assoc.release()
    return True, int(status.Status)


def find(port: int, level: str, keys: dict[str, Any], root: str = "study") -> list[Dataset]:
    model = (
        StudyRootQueryRetrieveInformationModelFind
        if root == "study"
        else PatientRootQueryRetrieveInformationModelFind
    )
    assoc = scu(DEVICE, [model]).associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established
    query = Dataset()
    query.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    found = []
    try:
        for status, identifier in assoc.send_c_find(query, model):
            assert status is not None
            if status.Status == 0xFF00:
                found.append(identifier)
            else:
                assert status.Status == 0x0000, hex(status.Status)
    finally:
        assoc.release()
    return found


async def test_echo_and_unknown_ae_rejected(node: Node) -> None:
    assert await in_thread(echo, node.port, DEVICE) == (True, 0)
    established, _ = await in_thread(echo, node.port, "STRANGER")
    assert not established


@pytest.mark.both_backends  # the index's writes and queries
async def test_store_links_patient_and_opens_request(node: Node) -> None:
    patient = (await node.patients())[0]
    study = generate_uid()
    series = generate_uid()
    datasets = [
        make_ct(
            patient_id=patient.resident_id or "", study_uid=study, series_uid=series, instance=i
        )
        for i in range(1, 4)
    ]
    statuses = await in_thread(store_all, node.port, datasets)
    assert statuses == [0, 0, 0]
    # re-sent instance: no duplicate
    assert await in_thread(store_all, node.port, datasets[:1]) == [0]
    await node.flush()
    async with node.api.center.sessions() as session:
        row = await session.scalar(select(ImagingStudy).where(ImagingStudy.study_uid == study))
        assert row is not None
        assert row.patient_id == patient.id
        assert row.num_instances == 3 and row.num_series == 1 and row.modalities == "CT"
        assert await session.scalar(select(func.count(ImagingInstance.id))) == 3
        request = await session.get(DiagnosticRequest, row.request_id)
        assert request is not None and request.kind is RequestKind.IMAGING_READ
        assert request.patient_id == patient.id
    radiologist = await node.api.login("radiologist")
    listed = (await radiologist.get(f"/api/v1/requests/{request.id}/studies")).ok()
    assert [s["study_uid"] for s in listed] == [study]


async def test_unmatched_study_waits_for_reconciliation(node: Node) -> None:
    study = generate_uid()
    assert await in_thread(
        store_all, node.port, [make_ct(patient_id="NOBODY-1", study_uid=study)]
    ) == [0]
    await node.flush()
    async with node.api.center.sessions() as session:
        row = await session.scalar(select(ImagingStudy).where(ImagingStudy.study_uid == study))
        assert row is not None and row.patient_id is None and row.request_id is None
        assert await session.scalar(
            select(ImagingReconciliation.id).where(ImagingReconciliation.study_id == row.id)
        )
    patient = (await node.patients())[1]
    admin = await node.api.login("admin")
    items = (await admin.get("/api/v1/imaging/reconciliation")).ok()
    item = next(i for i in items if i["study_uid"] == study)
    resolved = (
        await admin.post(
            f"/api/v1/imaging/reconciliation/{item['id']}/resolve", {"patient_id": patient.id}
        )
    ).ok()
    assert resolved["patient_id"] == patient.id and resolved["request_id"]
    assert all(
        i["study_uid"] != study for i in (await admin.get("/api/v1/imaging/reconciliation")).ok()
    )


async def test_corrupt_dataset_refused_others_kept(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = generate_uid()
    good = [make_ct(study_uid=study, instance=i) for i in (1, 2)]
    bad = make_ct(study_uid=study, instance=3)
    truncated = node.tmp_path / "truncated.dcm"
    bad.save_as(truncated, enforce_file_format=True)
    truncated.write_bytes(truncated.read_bytes()[:-500])  # cut inside Pixel Data
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)  # send the bytes as they are

    def send() -> list[int]:
        ae = AE(ae_title=DEVICE)
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", node.port, ae_title="TELECENTER")
        assert assoc.is_established
        statuses = [int(assoc.send_c_store(good[0]).Status)]
        statuses.append(int(assoc.send_c_store(truncated).Status))
        statuses.append(int(assoc.send_c_store(good[1]).Status))
        assoc.release()
        return statuses

    statuses = await in_thread(send)
    assert statuses[0] == 0 and statuses[2] == 0
    assert statuses[1] & 0xF000 in (0xA000, 0xC000), hex(statuses[1])
    await node.flush()
    async with node.api.center.sessions() as session:
        uids = set(await session.scalars(select(ImagingInstance.sop_uid)))
    assert uids == {good[0].SOPInstanceUID, good[1].SOPInstanceUID}
    assert not list(node.tmp_path.rglob("*.tmp"))


@pytest.fixture
async def corpus(node: Node) -> dict[str, Any]:
    """Three studies of two patients, two modalities, three dates."""
    s1, s2, s3, se1 = generate_uid(), generate_uid(), generate_uid(), generate_uid()
    datasets = [
        make_ct(
            patient_id="PID-A",
            patient_name="Zhang^San",
            study_uid=s1,
            series_uid=se1,
            study_date="20260101",
            study_time="083000",
            instance=1,
        ),
        make_ct(
            patient_id="PID-A",
            patient_name="Zhang^San",
            study_uid=s1,
            series_uid=se1,
            study_date="20260101",
            study_time="083000",
            instance=2,
        ),
        make_ct(
            patient_id="PID-A",
            patient_name="Zhang^San",
            study_uid=s2,
            study_date="20260315",
            study_time="141500",
            modality="MR",
            description="MR KNEE",
        ),
        make_ct(
            patient_id="PID-B",
            patient_name="Li^Xiuying",
            study_uid=s3,
            study_date="20261120",
            study_time="230000",
            accession="ACC77",
            sex="F",
        ),
    ]
    assert await in_thread(store_all, node.port, datasets) == [0] * 4
    return {"studies": [s1, s2, s3], "datasets": datasets}


@pytest.mark.both_backends  # the index's writes and queries
async def test_find_matching_rules(node: Node, corpus: dict[str, Any]) -> None:
    s1, s2, s3 = corpus["studies"]

    async def uids(keys: dict[str, Any], level: str = "STUDY") -> set[str]:
        found = await in_thread(find, node.port, level, {"StudyInstanceUID": "", **keys})
        return {str(ds.StudyInstanceUID) for ds in found}

    assert await uids({}) == {s1, s2, s3}  # universal
    assert await uids({"PatientID": "PID-A"}) == {s1, s2}  # single value
    assert await uids({"PatientName": "zhang*"}) == {s1, s2}  # wildcard, names case-insensitive
    assert await uids({"PatientName": "Li^Xiuyin?"}) == {s3}
    assert await uids({"StudyDate": "20260101-20260401"}) == {s1, s2}  # range
    assert await uids({"StudyDate": "20260316-"}) == {s3}
    assert await uids({"StudyDate": "-20260101"}) == {s1}
    assert await uids({"StudyTime": "1400-2359"}) == {s2, s3}
    assert await uids({"StudyInstanceUID": f"{s1}\\{s3}"}) == {s1, s3}  # UID list
    assert await uids({"AccessionNumber": "ACC77"}) == {s3}
    assert await uids({"ModalitiesInStudy": "MR"}) == {s2}
    assert await uids({"PatientSex": "F"}) == {s3}
    found = await in_thread(
        find,
        node.port,
        "STUDY",
        {
            "StudyInstanceUID": s1,
            "NumberOfStudyRelatedInstances": "",
            "PatientName": "",
            "ModalitiesInStudy": "",
        },
    )
    assert len(found) == 1
    assert found[0].NumberOfStudyRelatedInstances == 2
    assert str(found[0].PatientName) == "Zhang^San" and found[0].ModalitiesInStudy == "CT"
    # every level, one response per entity
    patients = await in_thread(
        find, node.port, "PATIENT", {"PatientID": "PID-*", "PatientName": ""}, "patient"
    )
    assert sorted(str(p.PatientID) for p in patients) == ["PID-A", "PID-B"]
    series = await in_thread(
        find, node.port, "SERIES", {"StudyInstanceUID": s1, "SeriesInstanceUID": "", "Modality": ""}
    )
    assert len(series) == 1 and series[0].Modality == "CT"
    images = await in_thread(
        find,
        node.port,
        "IMAGE",
        {"StudyInstanceUID": s1, "SOPInstanceUID": "", "InstanceNumber": ""},
    )
    assert sorted(int(i.InstanceNumber) for i in images) == [1, 2]
    patient_root_studies = await in_thread(
        find, node.port, "STUDY", {"PatientID": "PID-B", "StudyInstanceUID": ""}, "patient"
    )
    assert [str(d.StudyInstanceUID) for d in patient_root_studies] == [s3]


async def test_get_and_move(node: Node, corpus: dict[str, Any]) -> None:
    s1 = corpus["studies"][0]
    received: list[str] = []

    def on_store(event: Any) -> int:
        received.append(str(event.dataset.SOPInstanceUID))
        return 0

    def get() -> int:
        ae = AE(ae_title=DEVICE)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        ae.add_requested_context(CTImageStorage)
        assoc = ae.associate(
            "127.0.0.1",
            node.port,
            ae_title="TELECENTER",
            ext_neg=[build_role(CTImageStorage, scp_role=True)],
            evt_handlers=[(evt.EVT_C_STORE, on_store)],
        )
        assert assoc.is_established
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = s1
        last = None
        for status, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet):
            last = status
        assoc.release()
        return int(last.Status)

    assert await in_thread(get) == 0
    assert len(received) == 2
    # C-MOVE to a registered destination
    port = free_port()
    admin = await node.api.login("admin")
    (
        await admin.post(
            "/api/v1/imaging/devices",
            {
                "ae_title": "VIEWER",
                "host": "127.0.0.1",
                "port": port,
                "institution": "county",
                "allow": ["store"],
            },
        )
    ).ok()
    moved: list[str] = []

    def move(destination: str) -> int:
        ae = AE(ae_title="VIEWER")
        ae.add_supported_context(CTImageStorage)
        server = ae.start_server(
            ("127.0.0.1", port),
            block=False,
            evt_handlers=[
                (evt.EVT_C_STORE, lambda e: moved.append(str(e.dataset.SOPInstanceUID)) or 0)
            ],
        )
        try:
            req = AE(ae_title=DEVICE)
            req.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
            assoc = req.associate("127.0.0.1", node.port, ae_title="TELECENTER")
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.StudyInstanceUID = s1
            last = None
            for status, _ in assoc.send_c_move(
                query, destination, StudyRootQueryRetrieveInformationModelMove
            ):
                last = status
            assoc.release()
            return int(last.Status)
        finally:
            server.shutdown()

    assert await in_thread(move, "VIEWER") == 0
    assert sorted(moved) == sorted(received)
    assert await in_thread(move, "NOWHERE") == 0xA801


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
async def test_device_permissions_and_scope(node: Node, corpus: dict[str, Any]) -> None:
    admin = await node.api.login("admin")
    body = {"ae_title": "XIHE-US", "host": "127.0.0.1", "port": 104, "institution": "th-xihe"}
    (await admin.post("/api/v1/imaging/devices", {**body, "allow": ["find"]})).ok()
    assert (await admin.post("/api/v1/imaging/devices", {**body, "allow": ["find"]})).status == 409
    doctor = await node.api.login("dr-township")
    assert (await doctor.get("/api/v1/imaging/devices")).status == 403
    titles = [d["ae_title"] for d in (await admin.get("/api/v1/imaging/devices")).ok()]
    assert {"DEMO-CT", "XIHE-US"} <= set(titles)
    # a device allowed to find only may not store, and finds only its institution's studies
    assert await in_thread(store_all, node.port, [make_ct()], "XIHE-US") == [0x0124]

    def find_as(aet: str) -> list[Dataset]:
        assoc = scu(aet, [StudyRootQueryRetrieveInformationModelFind]).associate(
            "127.0.0.1", node.port, ae_title="TELECENTER"
        )
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = ""
        found = [
            ds
            for status, ds in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind)
            if status and status.Status == 0xFF00
        ]
        assoc.release()
        return found

    assert await in_thread(find_as, "XIHE-US") == []
    assert len(await in_thread(find_as, DEVICE)) == 3
    # a malformed range is refused with a failure status, the association stays usable
    with pytest.raises(AssertionError, match="0xa900"):
        await in_thread(find, node.port, "STUDY", {"StudyDate": "2026-01-01-x"})
