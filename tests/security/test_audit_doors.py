"""Issue 18: reads through every door are audited with the patient as a column.

The notifications list, each live event the events socket delivers and the worklist name
patients; an auditor's search by patient finds every one of those reads.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, ApiUser
from tests.core.helpers import Events, new_patient, new_request

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


async def _reads_of(api: Api, patient_id: int, actor: str) -> list[dict[str, Any]]:
    auditor = await api.login("auditor")
    return (await auditor.get(f"/api/v1/audit?patient_id={patient_id}&actor={actor}")).ok()  # type: ignore[no-any-return]


async def _a_request(api: Api) -> tuple[ApiUser, int, dict[str, Any]]:
    village = await api.login("dr-village")
    patient = await new_patient(village, "钱七")
    return village, patient["id"], patient


async def test_events_socket_delivery_is_audited_per_patient(api: Api) -> None:
    reader = await api.login("ecg-reader")
    events = await Events.open(reader)
    try:
        village, patient_id, _ = await _a_request(api)
        request = await new_request(village, patient_id, "ecg_read")
        event = await events.next("request.received")
        assert event["request_id"] == request["id"]
    finally:
        await events.close()
    delivered = [
        r for r in await _reads_of(api, patient_id, "ecg-reader") if r["action"] == "event.deliver"
    ]
    assert len(delivered) == 1
    assert delivered[0]["object_type"] == "notification"
    assert delivered[0]["object_id"] == str(event["notification_id"])
    assert delivered[0]["detail"]["kind"] == "request.received"
    assert delivered[0]["client"] == "127.0.0.1"


async def test_notification_list_is_audited_per_patient(api: Api) -> None:
    village, first, _ = await _a_request(api)
    second = (await new_patient(village, "孙八"))["id"]
    await new_request(village, first, "ecg_read")
    await new_request(village, second, "ecg_read")
    reader = await api.login("ecg-reader2")
    shown = (await reader.get("/api/v1/notifications")).ok()
    assert len(shown) >= 2
    for patient_id in (first, second):
        reads = [
            r
            for r in await _reads_of(api, patient_id, "ecg-reader2")
            if r["action"] == "notification.list"
        ]
        assert len(reads) == 1, reads
        assert reads[0]["object_type"] == "patient" and reads[0]["object_id"] == str(patient_id)


async def test_notification_list_without_patients_is_still_audited(api: Api) -> None:
    admin = await api.login("admin")
    assert (await admin.get("/api/v1/notifications")).ok() == []
    auditor = await api.login("auditor")
    rows = (await auditor.get("/api/v1/audit?actor=admin&action=notification.list")).ok()
    assert len(rows) == 1 and rows[0]["patient_id"] is None and rows[0]["detail"] == {"found": 0}


async def test_worklist_read_is_audited_per_patient(api: Api) -> None:
    village, patient_id, _ = await _a_request(api)
    request = await new_request(village, patient_id, "ecg_read")
    reader = await api.login("ecg-head")
    listed = (await reader.get("/api/v1/worklist")).ok()
    assert request["id"] in {r["id"] for r in listed}
    reads = [
        r for r in await _reads_of(api, patient_id, "ecg-head") if r["action"] == "worklist.read"
    ]
    assert len(reads) == 1
    assert reads[0]["patient_id"] == patient_id
