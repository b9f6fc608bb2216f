"""Several real ``telecenter serve`` nodes on one PostgreSQL database and one Redis."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.core.helpers import Events, new_patient, new_request
from tests.nodes.conftest import Cluster, needs_pg, needs_redis


@needs_pg
@needs_redis
async def test_nodes_start_together_and_events_cross_nodes(cluster: Cluster) -> None:
    # Both nodes start at once on an empty database: one migrates and seeds, the other waits.
    a, b = await asyncio.gather(cluster.start("a", "--demo"), cluster.start("b", "--demo"))
    health = await asyncio.gather(a.wait_healthy(), b.wait_healthy())
    assert [h["status"] for h in health] == ["ok", "ok"]
    assert [h["events"] for h in health] == ["ok", "ok"]

    reader_on_b = await b.login("ecg-reader")
    village_on_a = await a.login("dr-village")
    events_b = await Events.open(reader_on_b)
    events_a = await Events.open(await a.login("ecg-reader"))
    patient = await new_patient(village_on_a, "孙八")
    request = await new_request(village_on_a, patient["id"], "ecg_read", "urgent")
    # raised through node A, heard on node B's WebSocket (and on A's), once each
    assert (await events_b.next("request.received"))["request_id"] == request["id"]
    assert (await events_a.next("request.received"))["request_id"] == request["id"]
    await events_b.nothing("request.received")

    # and the other way round: B accepts, the village doctor on A hears it
    village_events = await Events.open(village_on_a)
    accepted = await reader_on_b.post(f"/api/v1/requests/{request['id']}/accept")
    assert accepted.ok()["status"] == "accepted"
    assert (await village_events.next("request.accepted"))["request_id"] == request["id"]
    for events in (events_a, events_b, village_events):
        await events.close()


def test_node_refuses_a_schema_newer_than_its_code(tmp_path: Path) -> None:
    data = tmp_path / "var"
    cli = [sys.executable, "-m", "web.cli", "--data-dir", str(data)]
    subprocess.run([*cli, "db", "upgrade"], check=True, capture_output=True, timeout=120)
    with sqlite3.connect(data / "telecenter.db") as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    proc = subprocess.run(
        [*cli, "serve", "--port", "0", "--dicom-port", "0", "--mllp-port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "newer than this code" in proc.stderr
