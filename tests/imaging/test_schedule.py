"""Scheduling an imaging request on the modality worklist over the API: the step dcmtk's
findscu -W then sees, moving it, refusals, no double booking of a station slot (raced on both
backends), and a cancelled request leaving the worklist."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from consult.models import Institution, Patient
from imaging.index import WorklistStep
from tests.conftest import Api, ApiUser, Database
from tests.imaging.conftest import DEVICE, running_node
from tests.imaging.test_worklist import _findscu

START_TIME = "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime"
SLOT = {"modality": "CT", "start": "2026-12-07T09:30:00+08:00", "station_aet": DEVICE}


def _schedule(request_id: int) -> str:
    return f"/api/v1/requests/{request_id}/schedule"


async def _patients(api: Api, institution: str) -> list[Patient]:
    async with api.center.sessions() as session:
        rows = await session.scalars(
            select(Patient)
            .join(Institution, Institution.id == Patient.home_institution_id)
            .where(Institution.code == institution)
            .order_by(Patient.id)
        )
        return list(rows)


async def _imaging_request(doctor: ApiUser, patient: Patient, kind: str = "imaging_read") -> Any:
    body = {"patient_id": patient.id, "kind": kind, "clinical_question": "胸痛三天"}
    return (await doctor.post("/api/v1/requests", body)).ok()


@pytest.mark.skipif(shutil.which("findscu") is None, reason="dcmtk not installed")
async def test_scheduled_over_the_api_reaches_the_modality_and_leaves_on_cancel(
    seeded_database: Database, tmp_path: Path
) -> None:
    async with running_node(seeded_database, tmp_path, 0) as node:
        api = node.api
        village = await api.login("dr-village")
        patient = (await _patients(api, "vc-liujia"))[0]
        request = await _imaging_request(village, patient)
        path = _schedule(request["id"])

        assert (await village.get(path)).status == 404  # not scheduled yet
        step = (await village.put(path, SLOT)).ok()
        assert step["accession"] == request["identifier"] and step["status"] == "SCHEDULED"
        assert step["station_aet"] == DEVICE and step["start"].startswith("2026-12-07T09:30")
        assert (await village.get(path)).ok() == step

        code, out, found = await _findscu(node, DEVICE, START_TIME)
        assert code == 0, out
        assert [item.AccessionNumber for item in found] == [request["identifier"]], out
        assert found[0].StudyInstanceUID == step["study_uid"]
        sps = found[0].ScheduledProcedureStepSequence[0]
        assert (sps.ScheduledProcedureStepStartDate, sps.ScheduledProcedureStepStartTime) == (
            "20261207",
            "093000",
        )

        # moved while still SCHEDULED: the same step (same study UID) at the new time
        moved = (await village.put(path, {**SLOT, "start": "2026-12-07T03:00:00Z"})).ok()
        assert moved["study_uid"] == step["study_uid"]
        assert moved["start"].startswith("2026-12-07T11:00")  # the center's zone (+08:00)

        # moved to the county's scanner: performed there now, gone from the township's list
        admin = await api.login("admin")
        county_ct = {
            "ae_title": "COUNTY-CT",
            "host": "127.0.0.1",
            "port": 11113,
            "institution": "county",
            "allow": ["store", "find"],
        }
        (await admin.post("/api/v1/imaging/devices", county_ct)).ok()
        there = (await village.put(path, {**SLOT, "station_aet": "COUNTY-CT"})).ok()
        assert there["station_aet"] == "COUNTY-CT" and there["study_uid"] == step["study_uid"]
        async with api.center.sessions() as session:
            where = await session.scalar(
                select(Institution.code)
                .join(WorklistStep, WorklistStep.institution_id == Institution.id)
                .where(WorklistStep.request_id == request["id"])
            )
        assert where == "county"
        code, out, found = await _findscu(node, DEVICE)
        assert code == 0 and found == [], out
        back = (await village.put(path, {**SLOT, "start": "2026-12-07T03:00:00Z"})).ok()
        assert back["station_aet"] == DEVICE

        async with api.center.sessions() as session:
            from consult.models import AuditRecord

            actions = list(
                await session.scalars(
                    select(AuditRecord.action)
                    .where(AuditRecord.patient_id == patient.id)
                    .where(AuditRecord.action.like("imaging.worklist.%"))
                    .order_by(AuditRecord.id)
                )
            )
        written = [a for a in actions if a.endswith("schedule")]
        assert written == ["imaging.worklist.schedule"] + ["imaging.worklist.reschedule"] * 3, (
            actions
        )
        assert "imaging.worklist.read" in actions  # reading the step is audited too

        cancelled = await village.post(
            f"/api/v1/requests/{request['id']}/cancel", {"reason": "患者已转院"}
        )
        cancelled.ok()
        assert (await village.get(path)).ok()["status"] == "DISCONTINUED"
        code, out, found = await _findscu(node, DEVICE)
        assert code == 0 and found == [], out
        refused = await village.put(path, SLOT)
        assert refused.status == 409, refused.body


async def test_schedule_refusals(api: Api) -> None:
    village = await api.login("dr-village")
    township = await api.login("dr-township")
    patient = (await _patients(api, "vc-liujia"))[0]
    request = await _imaging_request(village, patient)
    path = _schedule(request["id"])

    for bad, field in (
        ({**SLOT, "start": "2026-12-07T09:30:00"}, "start"),  # no zone: whose 09:30?
        ({**SLOT, "start": "next monday"}, "start"),
        ({**SLOT, "modality": "C T!"}, "modality"),
        ({**SLOT, "description": "胸部\x01平扫"}, "description"),
        ({**SLOT, "station_aet": "x" * 17}, "station_aet"),
        ({k: v for k, v in SLOT.items() if k != "modality"}, "modality"),
    ):
        answer = await village.put(path, bad)
        assert answer.status == 422, (bad, answer.body)
        assert field in str(answer.body), (field, answer.body)
    headers = {**village.headers, "Content-Type": "application/json"}
    async with village.client.put(path, data=b"{not json", headers=headers) as raw:
        assert raw.status in (400, 422), await raw.text()

    # a station must be a registered modality the village may send to (its township, the county)
    admin = await api.login("admin")
    xihe_ct = {
        "ae_title": "XIHE-CT",
        "host": "127.0.0.1",
        "port": 11112,
        "institution": "th-xihe",
        "allow": ["store", "find"],
    }
    (await admin.post("/api/v1/imaging/devices", xihe_ct)).ok()
    for station in ("NOWHERE-CT", "XIHE-CT"):
        answer = await village.put(path, {**SLOT, "station_aet": station})
        assert answer.status == 422, answer.body
        assert answer.body["error"]["field"] == "station_aet", answer.body
    assert (await village.get(path)).status == 404  # nothing was booked by the refusals

    ecg = await _imaging_request(village, patient, kind="ecg_read")
    answer = await village.put(_schedule(ecg["id"]), SLOT)
    assert answer.status == 422 and "imaging" in str(answer.body), answer.body

    # another township's doctor: out of scope is 404, for reading as for booking
    assert (await township.put(path, SLOT)).status == 404
    assert (await township.get(path)).status == 404
    assert (await api.anonymous("GET", path)).status == 401
    assert (await village.get(_schedule(10**9))).status == 404


@pytest.mark.both_backends  # no double booking: a safety rule, raced
async def test_one_step_per_station_slot_raced(api: Api) -> None:
    village = await api.login("dr-village")
    patients = await _patients(api, "vc-liujia")
    assert len(patients) >= 3
    requests = [await _imaging_request(village, patient) for patient in patients]

    answers = await asyncio.gather(
        *(village.put(_schedule(request["id"]), SLOT) for request in requests)
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200] + [409] * (len(requests) - 1), [a.body for a in answers]
    assert all("slot" in str(a.body) for a in answers if a.status == 409)

    winner = next(r for r, a in zip(requests, answers, strict=True) if a.status == 200)
    loser = next(r for r, a in zip(requests, answers, strict=True) if a.status == 409)
    assert (await village.get(_schedule(loser["id"]))).status == 404  # nothing half-booked
    # the slot frees when the winner's request is cancelled
    await village.post(f"/api/v1/requests/{winner['id']}/cancel", {"reason": "改期"})
    assert (await village.put(_schedule(loser["id"]), SLOT)).status == 200
