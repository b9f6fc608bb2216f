"""Modality worklist: dcmtk findscu -W against the node, the study sent afterwards links by the
worklist's StudyInstanceUID, MPPS N-CREATE / N-SET over pynetdicom, scope and refusals."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from sqlalchemy import select

from consult.models import Institution, Patient
from consult.principal import SYSTEM
from imaging import devices, worklist
from imaging.index import ImagingStudy, WorklistStep
from imaging.node_values import Operation
from imaging.sop import MPPS
from tests.conftest import Database
from tests.imaging.conftest import DEVICE, Node, in_thread, make_ct, running_node, store_all
from tests.imaging.test_dcmtk import dcmtk, peer

pytestmark = pytest.mark.skipif(shutil.which("findscu") is None, reason="dcmtk not installed")

OTHER = "XIHE-CT"


async def _scheduled(node: Node) -> tuple[dict[str, Any], WorklistStep, Patient]:
    async with node.api.center.sessions() as session:
        patient = await session.scalar(
            select(Patient)
            .join(Institution, Institution.id == Patient.home_institution_id)
            .where(Institution.code == "vc-liujia", Patient.resident_id.is_not(None))
            .order_by(Patient.id)
            .limit(1)
        )
    assert patient is not None
    village = await node.api.login("dr-village")
    body = {"patient_id": patient.id, "kind": "imaging_read", "clinical_question": "胸痛"}
    request = (await village.post("/api/v1/requests", body)).ok()
    async with node.api.center.work(SYSTEM) as work:
        step = await worklist.schedule(
            work,
            request["identifier"],
            modality="CT",
            start=dt.datetime(2026, 12, 4, 9, 30),
            at="th-dongcheng",
            station_aet=DEVICE,
            description="CT CHEST",
        )
        await devices.add(
            work,
            ae_title=OTHER,
            host="127.0.0.1",
            port=11114,
            institution_code="th-xihe",
            operations=frozenset(Operation),
        )
    return request, step, patient


async def _findscu(node: Node, aet: str, *keys: str) -> tuple[int, str, list[Dataset]]:
    out_dir = node.tmp_path / f"mwl-{aet}-{generate_uid()[-8:]}"
    out_dir.mkdir()
    args = ["-k", "ScheduledProcedureStepSequence[0].Modality=CT"]
    args += [
        "-k",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261201-20261231",
    ]
    for key in ("PatientName", "PatientID", "AccessionNumber", "StudyInstanceUID"):
        args += ["-k", key]
    for key in keys:
        args += ["-k", key]
    code, out = await dcmtk("findscu", "-W", "-X", "-od", str(out_dir), *args, *peer(node, aet))
    return code, out, await asyncio.to_thread(_read_all, out_dir)


def _read_all(folder: Path) -> list[Dataset]:
    return [pydicom.dcmread(p) for p in sorted(folder.glob("*"))]


def _mpps(port: int, messages: list[tuple[str, str, Dataset]]) -> list[tuple[int, int | None]]:
    """N-CREATE / N-SET in one association: (status, Error ID) of each."""
    ae = AE(ae_title=DEVICE)
    ae.add_requested_context(MPPS)
    assoc = ae.associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established
    results = []
    try:
        for kind, uid, ds in messages:
            if kind == "create":
                status, _ = assoc.send_n_create(ds, MPPS, uid)
            else:
                status, _ = assoc.send_n_set(ds, MPPS, uid)
            results.append((int(status.Status), status.get("ErrorID")))
    finally:
        assoc.release()
    return results


def _create(study_uid: str, accession: str, status: str = "IN PROGRESS") -> Dataset:
    item = Dataset()
    item.StudyInstanceUID = study_uid
    item.AccessionNumber = accession
    ds = Dataset()
    ds.ScheduledStepAttributesSequence = [item]
    ds.PerformedProcedureStepStatus = status
    ds.Modality = "CT"
    return ds


def _set(status: str) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    return ds


async def test_worklist_mpps_and_linking(
    seeded_database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_node(seeded_database, tmp_path, 0) as node:
        request, step, patient = await _scheduled(node)

        code, out, found = await _findscu(node, DEVICE, "PatientBirthDate", "PatientSex")
        assert code == 0, out
        assert len(found) == 1, out
        item = found[0]
        assert item.AccessionNumber == request["identifier"]
        assert item.StudyInstanceUID == step.study_uid
        assert item.PatientID == patient.resident_id
        sps = item.ScheduledProcedureStepSequence[0]
        assert sps.Modality == "CT" and sps.ScheduledProcedureStepStartDate == "20261204"

        # another institution's modality sees nothing; an unregistered AE is refused
        code, out, other = await _findscu(node, OTHER)
        assert code == 0 and other == [], out
        code, out, _ = await _findscu(node, "STRANGER")
        assert code != 0 and "Calling AE Title Not Recognized" in out, out
        # hostile keys: a failure status, never a crash
        code, out, bad = await _findscu(
            node, DEVICE, "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=2026x"
        )
        assert bad == [] and "0xA900" in caplog.text, out

        mpps_uid = generate_uid()
        results = await in_thread(
            _mpps,
            node.port,
            [
                ("create", generate_uid(), _create(step.study_uid, step.accession, "COMPLETED")),
                ("create", mpps_uid, _create(step.study_uid, step.accession)),
                ("create", mpps_uid, _create(step.study_uid, step.accession)),
                ("create", generate_uid(), _create("1.2.3.4", "NOPE")),
                ("set", generate_uid(), _set("COMPLETED")),
                ("set", mpps_uid, _set("COMPLETED")),
                ("set", mpps_uid, _set("DISCONTINUED")),
                ("create", "not a uid", _create("x", "y")),
            ],
        )
        assert results == [
            (0x0106, None),
            (0x0000, None),
            (0x0111, None),
            (0x0110, None),
            (0x0112, None),
            (0x0000, None),
            (0x0110, 0xA710),
            (0x0106, None),
        ], [(hex(s), e) for s, e in results]
        async with node.api.center.sessions() as session:
            done = await session.get(WorklistStep, step.id)
            assert done is not None and done.status == worklist.StepStatus.COMPLETED

        # the study comes back with the worklist's StudyInstanceUID, no accession typed
        ct = make_ct(
            patient_id=patient.resident_id or "",
            patient_name=patient.name,
            birth_date=patient.birth_date.strftime("%Y%m%d") if patient.birth_date else "",
            sex=patient.sex.value,
            study_uid=step.study_uid,
        )
        ct.SpecificCharacterSet = "ISO_IR 192"
        assert await in_thread(store_all, node.port, [ct]) == [0]
        await node.flush()
        async with node.api.center.sessions() as session:
            study = await session.scalar(
                select(ImagingStudy).where(ImagingStudy.study_uid == step.study_uid)
            )
            assert study is not None and study.request_id == request["id"]
