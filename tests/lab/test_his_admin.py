"""Issue 16: administrators set each clinic's HIS endpoint, read the outbox and send a stopped
message again, over the API of a real server, with an HIS written in the test receiving."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from consult.models import AuditRecord
from tests.conftest import Api
from tests.lab.his_peer import FakeHis, clinic_id, deliver, sign_ecg_report


@pytest.mark.both_backends  # the counts' FILTER clause on both
async def test_endpoint_outbox_and_retry(api: Api) -> None:
    admin = await api.login("admin")
    xihe = await clinic_id(admin, "th-xihe")
    receiver = FakeHis("th-xihe", [("AE", "PID-3 患者未登记")])
    port = await receiver.start()
    try:
        path = f"/api/v1/institutions/{xihe}/his"
        assert (await admin.get(path)).ok() == {
            "institution_id": xihe,
            "host": "",
            "port": 0,
            "waiting": 0,
            "stopped": 0,
        }
        set_to = (await admin.put(path, {"host": "127.0.0.1", "port": port})).ok()
        assert (set_to["host"], set_to["port"]) == ("127.0.0.1", port)

        report = await sign_ecg_report(api, "dr-township", "窦性心律")
        assert (await admin.get(path)).ok()["waiting"] == 1
        links = {x["institution_id"]: x for x in (await admin.get("/api/v1/his/links")).ok()}
        assert (links[xihe]["port"], links[xihe]["waiting"], links[xihe]["stopped"]) == (port, 1, 0)
        assert all(x["waiting"] == 0 for i, x in links.items() if i != xihe)
        assert await deliver(api) == 0  # the HIS answers AE: stopped, waits for a person
        [row] = (await admin.get(f"/api/v1/his/outbox?institution_id={xihe}")).ok()
        assert (row["report_id"], row["ack_code"], row["ack_text"]) == (
            report["id"],
            "AE",
            "PID-3 患者未登记",
        )
        assert row["stopped_at"] is not None and "message" not in row
        assert (await admin.get(path)).ok()["stopped"] == 1
        assert (await admin.get("/api/v1/his/outbox?state=waiting")).ok() == []

        again = (await admin.post(f"/api/v1/his/outbox/{row['id']}/retry")).ok()
        assert (again["stopped_at"], again["attempts"]) == (None, 0)
        conflict = await admin.post(f"/api/v1/his/outbox/{row['id']}/retry")
        assert conflict.status == 409 and conflict.body["error"]["code"] == "not_stopped"
        assert await deliver(api) == 1  # the clinic fixed its registry: accepted now
        [sent] = (await admin.get("/api/v1/his/outbox?state=sent")).ok()
        assert (sent["id"], sent["ack_code"], sent["attempts"]) == (row["id"], "AA", 1)
        assert len(receiver.received) == 2
    finally:
        await receiver.stop()
    async with api.center.sessions() as session:
        actions = set(await session.scalars(select(AuditRecord.action)))
    assert {"institution.his", "his.outbox.read", "his.outbox.retry"} <= actions


async def test_a_retry_never_puts_an_old_version_over_a_new_one(api: Api) -> None:
    admin, reader = await api.login("admin"), await api.login("ecg-reader")
    xihe = await clinic_id(admin, "th-xihe")
    receiver = FakeHis("th-xihe", [("AE", "OBX-5 过长")])
    port = await receiver.start()
    try:
        (await admin.put(f"/api/v1/institutions/{xihe}/his", {"host": "127.0.0.1", "port": port}))
        report = await sign_ecg_report(api, "dr-township", "窦性心律")
        assert await deliver(api) == 0
        (
            await reader.post(
                f"/api/v1/reports/{report['id']}/amend",
                {"reason": "更正", "findings": "窦性心律不齐", "impression": "正常心电图"},
            )
        ).ok()
        assert await deliver(api) == 1  # the correction goes
        stopped = (await admin.get("/api/v1/his/outbox?state=stopped")).ok()
        refused = await admin.post(f"/api/v1/his/outbox/{stopped[0]['id']}/retry")
        assert refused.status == 409 and refused.body["error"]["code"] == "superseded"
    finally:
        await receiver.stop()


async def test_refusals(api: Api) -> None:
    admin, doctor = await api.login("admin"), await api.login("dr-township")
    xihe = await clinic_id(admin, "th-xihe")
    path = f"/api/v1/institutions/{xihe}/his"
    for body, field in (
        ({"host": "127.0.0.1", "port": 70000}, "port"),
        ({"host": "his host", "port": 2575}, "host"),
        ({"host": "127.0.0.1", "port": 0}, "port"),
        ({"host": "127.0.0.1", "port": 2575, "extra": 1}, "extra"),
    ):
        refused = await admin.put(path, body)
        assert refused.status == 422 and refused.body["error"]["field"] == field, refused.body
    assert (await admin.put(path, "not json")).status in (400, 422)
    assert (await admin.get("/api/v1/institutions/999999/his")).status == 404
    assert (await admin.post("/api/v1/his/outbox/999999/retry")).status == 404
    assert (await admin.get("/api/v1/his/outbox?state=lost")).status == 422
    for method, where in (
        ("GET", path),
        ("PUT", path),
        ("GET", "/api/v1/his/outbox"),
        ("GET", "/api/v1/his/links"),
        ("POST", "/api/v1/his/outbox/1/retry"),
    ):
        body = {"host": "", "port": 0} if method == "PUT" else None
        assert (await doctor.call(method, where, json=body)).status == 403
        assert (await api.anonymous(method, where, json=body)).status == 401
    assert (await admin.get(path)).ok()["host"] == ""  # nothing was changed by the refusals
