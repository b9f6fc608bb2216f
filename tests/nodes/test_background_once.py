"""Three nodes running their background loops for a while: each overdue alert and each OML
message to the LIS goes out exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from lab.hl7 import build_ack, parse
from lab.mllp import MllpServer
from tests.core.helpers import new_patient, new_request
from tests.nodes.conftest import Cluster, free_port, needs_pg, needs_redis

ROUNDS = {"overdue_check_seconds": "0.2", "lis_retry_seconds": "0.2"}


@needs_pg
@needs_redis
async def test_three_nodes_send_each_alert_and_message_once(cluster: Cluster) -> None:
    placers: Counter[str] = Counter()

    async def lis(raw: bytes, peer: str) -> bytes:
        message = parse(raw.decode())
        placers.update({str(s(2)) for s in message.segments("ORC")})
        await asyncio.sleep(0.05)  # a LIS that takes its time: rounds on other nodes overlap
        return build_ack(message, "AA").encode()

    lis_port = free_port()
    server = MllpServer(lis)
    await server.start("127.0.0.1", lis_port)
    env = {**ROUNDS, "lis_host": "127.0.0.1", "lis_port": str(lis_port)}
    try:
        first = await cluster.start("a", "--demo", **env)
        await first.wait_healthy()
        nodes = [first, *await asyncio.gather(*(cluster.start(n, **env) for n in "bc"))]
        await asyncio.gather(*(n.wait_healthy() for n in nodes[1:]))

        village = await nodes[1].login("dr-village")
        patient = await new_patient(village, "周九")
        orders = [
            (
                await village.post(
                    "/api/v1/lab/orders", {"patient_id": patient["id"], "tests": ["24331-1"]}
                )
            ).ok()
            for _ in range(6)
        ]
        requests = [(await new_request(village, patient["id"]))["id"] for _ in range(4)]
        engine = create_async_engine(cluster.database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE diagnostic_request SET due_at = due_at - interval '1 day' "
                        "WHERE id = ANY(:ids)"
                    ),
                    {"ids": requests},
                )
            await asyncio.sleep(4)  # some twenty rounds on each of the three nodes
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT user_id, request_id, count(*) FROM notification "
                            "WHERE kind = 'request.overdue' GROUP BY user_id, request_id"
                        )
                    )
                ).all()
        finally:
            await engine.dispose()
    finally:
        await server.stop()
    assert {r[1] for r in rows} == set(requests)
    assert all(r[2] == 1 for r in rows), rows
    assert set(placers) == {o["placer_number"] for o in orders}
    assert all(n == 1 for n in placers.values()), placers
