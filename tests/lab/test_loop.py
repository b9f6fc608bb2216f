"""The whole loop over the API and a real MLLP socket: order, specimen, HL7 results, release,
critical value, report in the clinic's inbox, amendment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import Api, Database, make_settings
from tests.lab.helpers import Peer, free_port, oru
from web.app import create_app

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

CBC = "58410-2"
HGB, WBC, PLT, K = "718-7", "6690-2", "777-3", "2823-3"


@pytest.fixture
async def lab_api(tmp_path: Path, database: Database) -> Any:
    port = free_port()
    server = TestServer(create_app(make_settings(tmp_path, database, mllp_port=port)))
    client = TestClient(server)
    await client.start_server()
    api = Api(client)
    api.mllp_port = port  # type: ignore[attr-defined]
    try:
        yield api
    finally:
        await client.close()


async def test_whole_loop(lab_api: Api) -> None:
    api = lab_api
    doctor = await api.login("dr-village")
    tech = await api.login("lab-tech")
    supervisor = await api.login("lab-supervisor")
    patient_id = (await doctor.get("/api/v1/patients")).ok()[0]["id"]

    order = (
        await doctor.post(
            "/api/v1/lab/orders",
            {"patient_id": patient_id, "tests": [CBC, "51990-0"], "clinical_question": "fatigue"},
        )
    ).ok()
    assert order["placer_number"] == order["request_identifier"]
    assert {s["specimen_type"] for s in order["specimens"]} == {"blood_edta", "serum"}
    for specimen in order["specimens"]:
        sid = specimen["id"]
        (await doctor.post(f"/api/v1/lab/specimens/{sid}/collect", {"collected_by": "nurse"})).ok()
        (await doctor.post(f"/api/v1/lab/specimens/{sid}/ship")).ok()
        assert (await doctor.post(f"/api/v1/lab/specimens/{sid}/receive")).status == 403
        got = (await tech.post(f"/api/v1/lab/specimens/{sid}/receive")).ok()
        assert got["status"] == "received"
        assert got["received_at"]
    seen = (await doctor.get(f"/api/v1/lab/orders/{order['id']}")).ok()
    assert seen["status"] == "received"
    assert seen["request_status"] == "in_progress"

    live = api.center.bus.subscribe(supervisor.me["id"])
    peer = await Peer.connect(api.mllp_port)  # type: ignore[attr-defined]
    code, text, _ = await peer.exchange(
        oru(
            order["placer_number"],
            [(HGB, "142"), (WBC, "6.1"), (PLT, "210"), (K, "7.1")],
            patient_id=str(patient_id),
        )
    )
    await peer.close()
    assert (code, text) == ("AA", "")

    events = [live.get_nowait() for _ in range(live.qsize())]
    assert "critical.alert" in {e.kind for e in events}  # the supervisor heard it live
    results = (await tech.get(f"/api/v1/lab/orders/{order['id']}/results")).ok()
    by_code = {r["test_code"]: r for r in results}
    assert by_code[K]["flag"] == "HH"
    assert by_code[HGB]["flag"] == "N"
    assert all(r["status"] == "preliminary" for r in results)
    assert (await doctor.get(f"/api/v1/lab/orders/{order['id']}/results")).ok() == []

    alerts = (await doctor.get("/api/v1/lab/alerts?open=true")).ok()
    assert len(alerts) == 1
    assert alerts[0]["result_id"] == by_code[K]["id"]
    notes = (await doctor.get("/api/v1/notifications")).ok()
    assert any(n["kind"] == "critical.alert" for n in notes)
    ack = (
        await supervisor.post(
            f"/api/v1/lab/alerts/{alerts[0]['id']}/ack",
            {"method": "phone", "notified_person": "刘医生", "note": "read back"},
        )
    ).ok()
    assert ack["method"] == "phone"
    assert ack["acknowledged_by"] == supervisor.me["id"]
    assert (await doctor.get("/api/v1/lab/alerts?open=true")).ok() == []

    released = (await supervisor.post(f"/api/v1/lab/orders/{order['id']}/release")).ok()
    assert released["report_status"] == "final"
    assert {r["code"] for r in released["data"]["results"]} == {HGB, WBC, PLT, K}
    inbox = (await doctor.get("/api/v1/inbox")).ok()
    delivered = [d for d in inbox if d["request_id"] == order["request_id"]]
    assert delivered
    assert "718-7" in delivered[0]["report"]["findings"]

    # an amendment keeps the earlier value; released again by the supervisor
    amended = (
        await tech.post(
            f"/api/v1/lab/orders/{order['id']}/amendments",
            {"code": HGB, "value": "124", "reason": "sample mix-up corrected"},
        )
    ).ok()
    assert amended["stored"][0]["supersedes_id"] == by_code[HGB]["id"]
    second = (await supervisor.post(f"/api/v1/lab/orders/{order['id']}/release")).ok()
    assert second["report_status"] == "amended"
    assert second["report_version"] == 2
    rows = (await doctor.get(f"/api/v1/lab/orders/{order['id']}/results")).ok()
    hgb = [r for r in rows if r["test_code"] == HGB]
    assert [(r["value"], r["status"]) for r in hgb] == [("142", "superseded"), ("124", "corrected")]
    trend = (await doctor.get(f"/api/v1/lab/patients/{patient_id}/results?code={HGB}")).ok()
    assert [r["value"] for r in trend] == ["124"]
