"""FHIR Task, Encounter, referral ServiceRequest, Appointment and ImagingStudy on one real server
for the module: fhir.resources validation (R4B models), scoping, ``_lastUpdated`` against rows with
known timestamps, paging links, malformed searches as 400 OperationOutcomes."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update
from sqlalchemy.engine import make_url

from consult.models import DiagnosticRequest, Referral
from consult.principal import SYSTEM
from consult.rooms import record_event
from imaging.index import ImagingPatient, ImagingSeries, ImagingStudy
from tests.conftest import Api, Database, SeededTemplates, make_settings
from tests.core.helpers import new_patient, new_request
from tests.core.test_referrals import publish, refer, signed_ecg_report
from tests.fhir.test_fhir_api import audit_rows, fhir_get
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="module")
KNOWN = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(
    seeded_templates: SeededTemplates, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    """One server on a copy of the seeded SQLite database for every test here (read-mostly
    tests; each makes its own patients, so they do not see each other's records)."""
    tmp_path = tmp_path_factory.mktemp("fhir-workflow")
    source = Path(make_url(seeded_templates.get("sqlite").url).database or "")
    shutil.copyfile(source, tmp_path / "seeded.db")
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'seeded.db'}")
    client = TestClient(TestServer(create_app(make_settings(tmp_path, database))))
    await client.start_server()
    try:
        yield Api(client)
    finally:
        await client.close()


async def stamp(api: Api, model: Any, row_id: int, **values: Any) -> None:
    """Give a row known timestamps (the data under test, written as the server would)."""
    async with api.center.sessions() as session, session.begin():
        await session.execute(update(model).where(model.id == row_id).values(**values))


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


async def test_task_follows_the_request_and_is_scoped(api: Api) -> None:
    village, reader = await api.login("dr-village"), await api.login("ecg-reader")
    patient = await new_patient(village, "任务一")
    request = await new_request(village, patient["id"], "ecg_read")
    _, task = await fhir_get(village, api, f"/fhir/Task/{request['id']}")
    assert task["status"] == "requested" and "owner" not in task
    (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    status, task = await fhir_get(village, api, f"/fhir/Task/{request['id']}")
    assert status == 200 and task["status"] == "accepted"
    assert task["owner"]["display"] == reader.me["display_name"]
    assert task["for"] == {"reference": f"Patient/{patient['id']}"}
    assert task["focus"] == {"reference": f"ServiceRequest/{request['id']}"}
    assert task["requester"]["type"] == "Organization"
    query = f"patient={patient['id']}&status=accepted&code=ecg_read"
    _, found = await fhir_get(village, api, f"/fhir/Task?{query}")
    assert ids(found) == [str(request["id"])]
    _, by_id = await fhir_get(village, api, f"/fhir/Task?identifier={request['identifier']}")
    assert ids(by_id) == [str(request["id"])]
    _, none = await fhir_get(village, api, f"/fhir/Task?patient={patient['id']}&status=completed")
    assert none["total"] == 0
    other = await api.login("dr-township")
    assert (await fhir_get(other, api, f"/fhir/Task/{request['id']}"))[0] == 404
    assert (await fhir_get(other, api, f"/fhir/Task?patient={patient['id']}"))[1]["total"] == 0
    assert patient["id"] in {r.patient_id for r in await audit_rows(api, "fhir.task.read")}


async def test_video_consult_is_a_virtual_encounter_with_the_rooms_period(api: Api) -> None:
    village, internist = await api.login("dr-village"), await api.login("internist")
    patient = await new_patient(village, "会诊二")
    consult = await new_request(village, patient["id"], "video_consult")
    (await internist.post(f"/api/v1/requests/{consult['id']}/accept")).ok()
    _, planned = await fhir_get(village, api, f"/fhir/Encounter/{consult['id']}")
    assert planned["status"] == "planned" and planned["class"]["code"] == "VR"
    async with api.center.work(SYSTEM, client="room") as work:  # what the room's observer does
        await record_event(work, consult["id"], "start")
        await record_event(
            work, consult["id"], "join", who="guest:1", name="患者家属", role="guest"
        )
        await record_event(work, consult["id"], "end", reason="done")
    status, enc = await fhir_get(village, api, f"/fhir/Encounter/{consult['id']}")
    assert status == 200 and enc["status"] == "finished"
    assert enc["period"]["start"] <= enc["period"]["end"]
    names = [p["individual"]["display"] for p in enc["participant"]]
    assert names == [internist.me["display_name"], "患者家属"]
    _, found = await fhir_get(
        village, api, f"/fhir/Encounter?patient={patient['id']}&status=finished"
    )
    assert ids(found) == [str(consult["id"])]
    _, planned_only = await fhir_get(
        village, api, f"/fhir/Encounter?patient={patient['id']}&status=planned"
    )
    assert planned_only["total"] == 0
    ecg = await new_request(village, patient["id"], "ecg_read")
    assert (await fhir_get(village, api, f"/fhir/Encounter/{ecg['id']}"))[0] == 404
    other = await api.login("dr-township")
    assert (await fhir_get(other, api, f"/fhir/Encounter/{consult['id']}"))[0] == 404


async def test_referral_service_request_and_its_appointment(api: Api) -> None:
    reader, cardio = await api.login("ecg-reader"), await api.login("cardio-desk")
    village = await api.login("dr-village")
    report = await signed_ecg_report(api, "转诊三")
    referral = (await refer(reader, report["id"])).ok()
    ref_id = f"referral-{referral['id']}"
    status, sr = await fhir_get(village, api, f"/fhir/ServiceRequest/{ref_id}")
    assert status == 200 and sr["status"] == "active" and "extension" not in sr
    assert sr["category"][0]["coding"][0]["code"] == "3457005"
    assert sr["requester"]["type"] == sr["performer"][0]["type"] == "Organization"
    assert sr["basedOn"] == [{"reference": f"ServiceRequest/{report['request_id']}"}]
    assert (await fhir_get(village, api, f"/fhir/Appointment/{referral['id']}"))[0] == 404
    slot = await publish(cardio)
    (await cardio.post(f"/api/v1/referrals/{referral['id']}/accept", {"slot_id": slot["id"]})).ok()
    _, sr = await fhir_get(village, api, f"/fhir/ServiceRequest/{ref_id}")
    appointment_ref = sr["extension"][0]["valueReference"]["reference"]
    status, appt = await fhir_get(village, api, f"/fhir/{appointment_ref}")
    assert status == 200 and appt["status"] == "booked"
    assert dt.datetime.fromisoformat(appt["start"]) == dt.datetime.fromisoformat(slot["starts_at"])
    assert appt["basedOn"] == [{"reference": f"ServiceRequest/{ref_id}"}]
    patient_id = sr["subject"]["reference"].split("/")[1]
    _, both = await fhir_get(village, api, f"/fhir/ServiceRequest?patient={patient_id}")
    assert ids(both) == [str(report["request_id"]), ref_id]
    _, referrals = await fhir_get(
        village, api, f"/fhir/ServiceRequest?patient={patient_id}&category=referral"
    )
    assert ids(referrals) == [ref_id]
    _, booked = await fhir_get(
        village, api, f"/fhir/Appointment?patient={patient_id}&status=booked"
    )
    assert ids(booked) == [str(referral["id"])]
    other = await api.login("dr-township")
    assert (await fhir_get(other, api, f"/fhir/ServiceRequest/{ref_id}"))[0] == 404
    assert (await fhir_get(other, api, f"/fhir/{appointment_ref}"))[0] == 404
    _, none = await fhir_get(other, api, f"/fhir/Appointment?patient={patient_id}")
    assert none["total"] == 0

    await stamp(api, Referral, referral["id"], opened_at=KNOWN, accepted_at=KNOWN)
    for query, expected in (("ge2021-03-04", 1), ("gt2021-03-04", 0), ("lt2021-03-04", 0)):
        _, found = await fhir_get(
            village, api, f"/fhir/Appointment?patient={patient_id}&_lastUpdated={query}"
        )
        assert found["total"] == expected, query


async def study_of(api: Api, patient_id: int, request_id: int, institution_id: int) -> int:
    """An indexed CT study of the patient (as ingest leaves it), updated at :data:`KNOWN`."""
    async with api.center.sessions() as session, session.begin():
        person = ImagingPatient(
            institution_id=institution_id, dicom_patient_id=f"P{patient_id}", name="CT^FOUR"
        )
        session.add(person)
        await session.flush()
        uid = f"1.2.826.0.1.3680043.10.{patient_id}"
        study = ImagingStudy(
            study_uid=uid,
            imaging_patient_id=person.id,
            patient_id=patient_id,
            request_id=request_id,
            institution_id=institution_id,
            study_date="20210304",
            study_time="101500",
            accession_number=f"A{request_id}",
            modalities="CT",
            num_series=1,
            num_instances=3,
            updated_at=KNOWN,
        )
        session.add(study)
        await session.flush()
        session.add(
            ImagingSeries(
                series_uid=f"{uid}.1",
                study_id=study.id,
                modality="CT",
                series_number=1,
                num_instances=3,
                body_part="CHEST",
            )
        )
        return study.id


async def test_imaging_study_counts_endpoint_and_last_updated(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "影像四")
    request = await new_request(village, patient["id"], "imaging_read")
    study_id = await study_of(api, patient["id"], request["id"], village.me["institution_id"])
    status, study = await fhir_get(village, api, f"/fhir/ImagingStudy/{study_id}")
    assert status == 200 and study["numberOfSeries"] == 1 and study["numberOfInstances"] == 3
    assert study["modality"][0]["code"] == "CT" and study["series"][0]["numberOfInstances"] == 3
    assert study["started"].startswith("2021-03-04T10:15:00")
    assert study["contained"][0]["address"].endswith("/dicom-web")
    assert study["endpoint"] == [{"reference": "#dicomweb"}]
    base = f"/fhir/ImagingStudy?patient={patient['id']}"
    for query, expected in (
        ("_lastUpdated=ge2021-03-04", 1),
        ("_lastUpdated=2021-03-04T05:06:07Z", 1),
        ("_lastUpdated=gt2021-03-04T05:06:07Z", 0),
        ("_lastUpdated=le2021-03-03", 0),
        ("_lastUpdated=lt2021-03-05&_lastUpdated=gt2021-03-03", 1),
        ("started=2021-03-04", 1),
        ("started=lt2021-03-04", 0),
        ("modality=CT", 1),
        ("modality=MR", 0),
        (f"identifier=A{request['id']}", 1),
    ):
        _, found = await fhir_get(village, api, f"{base}&{query}")
        assert found["total"] == expected, query
    other = await api.login("dr-township")
    assert (await fhir_get(other, api, f"/fhir/ImagingStudy/{study_id}"))[0] == 404
    assert (await fhir_get(other, api, base))[1]["total"] == 0
    assert patient["id"] in {r.patient_id for r in await audit_rows(api, "fhir.study.read")}


async def test_last_updated_on_requests_tasks_and_patients(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "时间五")
    old = await new_request(village, patient["id"], "lab_test")
    new = await new_request(village, patient["id"], "lab_test")
    await stamp(api, DiagnosticRequest, old["id"], updated_at=KNOWN)
    for resource in ("ServiceRequest", "Task"):
        base = f"/fhir/{resource}?patient={patient['id']}"
        for query, expected in (
            ("_lastUpdated=le2021-03-04", [old]),
            ("_lastUpdated=lt2021-03-04T05:06:07Z", []),
            ("_lastUpdated=ge2021-03-04T05:06:07Z&_lastUpdated=lt2022", [old]),
            ("_lastUpdated=gt2021-03-04", [new]),
        ):
            _, found = await fhir_get(village, api, f"{base}&{query}")
            assert ids(found) == [str(r["id"]) for r in expected], (resource, query)
    _, task = await fhir_get(village, api, f"/fhir/Task/{old['id']}")
    assert dt.datetime.fromisoformat(task["meta"]["lastUpdated"]) == KNOWN
    _, patients = await fhir_get(village, api, "/fhir/Patient?name=时间五&_lastUpdated=gt2021")
    assert ids(patients) == [str(patient["id"])]
    _, patients = await fhir_get(village, api, "/fhir/Patient?name=时间五&_lastUpdated=lt2021")
    assert patients["total"] == 0


async def test_paging_next_and_previous_links(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "翻页六")
    for _ in range(3):
        await new_request(village, patient["id"], "lab_test")
    path = f"/fhir/Task?patient={patient['id']}&_count=2"
    _, first = await fhir_get(village, api, path)
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert "previous" not in links and "next" in links
    nxt = links["next"]
    _, second = await fhir_get(village, api, nxt[nxt.index("/fhir/") :])
    links = {link["relation"]: link["url"] for link in second["link"]}
    assert "next" not in links and len(second["entry"]) == 1
    back = links["previous"]
    _, again = await fhir_get(village, api, back[back.index("/fhir/") :])
    assert ids(again) == ids(first)


async def test_metadata_lists_the_new_types_and_supervisor_is_refused(api: Api) -> None:
    _, body = await fhir_get(None, api, "/fhir/metadata")
    resources = {r["type"]: r for r in body["rest"][0]["resource"]}
    for rtype in ("Task", "Encounter", "Appointment", "ImagingStudy", "ServiceRequest"):
        names = {p["name"] for p in resources[rtype]["searchParam"]}
        assert {"patient", "_lastUpdated"} <= names, rtype
    supervisor = await api.login("supervisor")
    for path in ("/fhir/Task", "/fhir/Encounter/1", "/fhir/ImagingStudy", "/fhir/Appointment"):
        status, outcome = await fhir_get(supervisor, api, path)
        assert status == 403 and outcome["issue"][0]["code"] == "forbidden", path


async def test_malformed_searches_are_400_operation_outcomes(api: Api) -> None:
    village = await api.login("dr-village")
    for path in (
        "/fhir/Task/abc",
        "/fhir/Task?status=active",
        "/fhir/Task?code=xray",
        "/fhir/Task?code=http://other|ecg_read",
        "/fhir/Task?identifier=",
        "/fhir/Task?_lastUpdated=yesterday",
        "/fhir/Task?_lastUpdated=ge2021-02-30",
        "/fhir/Task?_lastUpdated=xx2021",
        "/fhir/Task?_lastUpdated=9999",
        "/fhir/Encounter?status=arrived",
        "/fhir/Encounter?class=VR",
        "/fhir/ServiceRequest/referral-0",
        "/fhir/ServiceRequest/referral-x",
        "/fhir/ServiceRequest?category=imaging",
        "/fhir/Appointment?status=proposed",
        "/fhir/Appointment?date=2021-13",
        "/fhir/ImagingStudy?modality=c%20t",
        "/fhir/ImagingStudy?started=20210304",
        "/fhir/ImagingStudy?identifier=urn:dicom:uid|",
        "/fhir/ImagingStudy?patient=Group/1",
        "/fhir/Patient?_lastUpdated=%00",
        "/fhir/Observation?_lastUpdated=2021-01-01T99:00",
        "/fhir/DiagnosticReport?_lastUpdated=ge",
    ):
        status, body = await fhir_get(village, api, path)
        assert status == 400, (path, status, body)
        assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "invalid"
