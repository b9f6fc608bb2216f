"""The metrics of the protocol doors and the background work, moved for real on the real server:
MLLP messages, ACK codes and connections; the LIS outbox's depth and failures; the rooms and
their participants; the ECG analyses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from consult.models import Patient, User
from consult.principal import principal_for
from lab import orders, outbound
from lab.hl7 import build_ack, parse
from lab.mllp import MllpServer
from signaling import protocol as p
from tests.conftest import Api, ApiUser, Database, make_settings
from tests.core.helpers import new_patient
from tests.core.test_metrics import value
from tests.ecg_center.files import normal_zip
from tests.ecg_center.test_ecg_api import upload
from tests.lab.helpers import Peer, free_port, oru
from tests.lab.his_peer import FakeHis, fields
from tests.lab.test_his import connect, signed_ecg
from tests.rooms.test_consult_room import client, consult
from web.app import create_app


@contextlib.asynccontextmanager
async def server(tmp_path: Path, database: Database, **overrides: Any) -> AsyncIterator[Api]:
    app = create_app(make_settings(tmp_path, database, **overrides))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Api(client)
    finally:
        await client.close()


async def metrics(admin: ApiUser) -> bytes:
    r = await admin.get("/metrics")
    assert r.status == 200
    assert isinstance(r.body, bytes)
    return r.body


async def until(admin: ApiUser, check: Callable[[bytes], bool], within: float = 5.0) -> None:
    """Wait until the metrics pass ``check`` (counted by a background task or another socket)."""
    async with asyncio.timeout(within):
        while True:
            if check(await metrics(admin)):
                return
            await asyncio.sleep(0.02)


async def shown(admin: ApiUser, name: str, want: float, within: float = 5.0, **labels: str) -> None:
    await until(admin, lambda body: value(body, name, **labels) == want, within)


async def test_mllp_messages_acks_and_connections(
    tmp_path: Path, seeded_database: Database
) -> None:
    port = free_port()
    async with server(
        tmp_path, seeded_database, mllp_port=port, mllp_allowed_peers=["127.0.0.1"]
    ) as api:
        admin = await api.login("admin")
        peer = await Peer.connect(port)
        await shown(admin, "telecenter_mllp_connections_open", 1)
        unknown = oru("NO-SUCH-ORDER", [("2345-7", "5.4")], patient_id="P404")
        assert (await peer.exchange(unknown))[0] == "AE"
        assert (await peer.exchange("MSH|^~\\&|nonsense"))[0] == "AR"
        await peer.close()
        stranger = await Peer.connect(port, source="127.0.0.2")  # not an allowed peer
        assert await stranger.reader.read() == b""  # closed at once
        body = await metrics(admin)
        assert value(body, "telecenter_mllp_messages_total", ack="AE") == 1
        assert value(body, "telecenter_mllp_messages_total", ack="AR") == 1
        assert value(body, "telecenter_mllp_connections_total", outcome="accepted") == 1
        assert value(body, "telecenter_mllp_connections_total", outcome="refused") == 1
        await shown(admin, "telecenter_mllp_connections_open", 0)


async def _queue_an_order(api: Api) -> None:
    center = api.center
    async with center.sessions() as session:
        user = await session.scalar(select(User).where(User.username == "dr-township"))
        assert user is not None
        doctor = await principal_for(session, user)
        patient_id = await session.scalar(
            select(Patient.id).where(Patient.home_institution_id == doctor.institution_id)
        )
    async with center.work(doctor) as work:
        order = await orders.create(
            work, orders.NewOrder(patient_id=patient_id or 0, tests=["24331-1"])
        )
        await outbound.enqueue(work, order)


async def test_lis_outbox_depth_and_failures(tmp_path: Path, seeded_database: Database) -> None:
    """The LIS outbox; and the HIS outbox of the same server: a signed report reaches the
    clinic's HIS through the hook and the background task, its depth on the metrics."""
    lis_port = free_port()  # nothing listens there yet: the LIS is down
    settings = {
        "lis_host": "127.0.0.1",
        "lis_port": lis_port,
        "lis_retry_seconds": 0.05,
        "his_poll_seconds": 0.05,
    }
    async with server(tmp_path, seeded_database, **settings) as api:
        admin = await api.login("admin")
        await _queue_an_order(api)
        body = await metrics(admin)
        assert value(body, "telecenter_outbox_pending", outbox="lis") == 1
        failures = "telecenter_outbox_failures_total"
        await until(admin, lambda body: value(body, failures, outbox="lis") >= 1, within=10)

        async def lis(raw: bytes, peer: str) -> bytes:
            return build_ack(parse(raw.decode()), "AA").encode()

        listener = MllpServer(lis)
        await listener.start("127.0.0.1", lis_port)
        try:
            await shown(admin, "telecenter_outbox_pending", 0, within=10, outbox="lis")
        finally:
            await listener.stop()
        clinic_his = FakeHis("th-xihe")
        await connect(api.center, "th-xihe", await clinic_his.start())
        try:
            await signed_ecg(api.center, "dr-township")
            await asyncio.wait_for(clinic_his.arrived.wait(), 10)
            await shown(admin, "telecenter_outbox_pending", 0, within=10, outbox="his")
        finally:
            await clinic_his.stop()
        assert fields(clinic_his.received[0], "MSH")[0][8] == "MDM^T02^MDM_T02"
        assert value(await metrics(admin), "telecenter_outbox_stopped", outbox="his") == 0


async def test_rooms_and_participants(api: Api) -> None:
    admin = await api.login("admin")
    village, internist, request = await consult(api)
    host = client(api, request["id"], village.token)
    member = client(api, request["id"], internist.token)
    try:
        await host.open(header=False)
        await member.open()
        assert isinstance(await host.join("刘医生"), p.Joined)
        assert isinstance(await member.join("周医生"), p.Joined)
        body = await metrics(admin)
        assert value(body, "telecenter_rooms_open") == 1
        assert value(body, "telecenter_room_participants") == 2
        await member.close()
        await shown(admin, "telecenter_room_participants", 1)
        await host.send(p.End())  # the host ends the room for everyone
        await shown(admin, "telecenter_rooms_open", 0)
        assert value(await metrics(admin), "telecenter_room_participants") == 0
    finally:
        await host.close()
        await member.close()


async def test_ecg_analyses_counted_with_outcome_and_time(api: Api) -> None:
    admin = await api.login("admin")
    village = await api.login("dr-village")
    patient = await new_patient(village)
    status, _ = await upload(village, patient["id"], normal_zip(seed=11), "normal.zip")
    assert status == 201
    status, _ = await upload(village, patient["id"], b"not an ECG at all", "junk.csv")
    assert status == 422
    body = await metrics(admin)
    assert value(body, "telecenter_ecg_analyses_total", outcome="ok") == 1
    assert value(body, "telecenter_ecg_analyses_total", outcome="rejected") == 1
    assert value(body, "telecenter_ecg_analyses_total", outcome="failed") == 0
    assert value(body, "telecenter_ecg_analysis_seconds_count") == 2
    assert value(body, "telecenter_ecg_analysis_seconds_sum") > 0
