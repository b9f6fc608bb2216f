"""A consult room on two nodes: participants who join through different nodes meet, exchange
video, and meet again on the surviving node after the room's node is killed."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
from aiortc.mediastreams import AudioStreamTrack

from signaling import protocol as p
from signaling.client import RoomClient
from tests.conftest import ApiUser
from tests.core.helpers import new_patient
from tests.nodes.conftest import Cluster, Node, needs_pg, needs_redis
from tests.signaling.media_sources import SmallVideo

SLOTS = 5


async def _meet(
    http: aiohttp.ClientSession,
    request_id: int,
    host: tuple[Node, ApiUser],
    member: tuple[Node, ApiUser],
) -> list[RoomClient]:
    clients = [
        RoomClient(http, f"{node.url}/api/v1/rooms/{request_id}/ws", user.token)
        for node, user in (host, member)
    ]
    for client, name in zip(clients, ("刘医生", "周医生"), strict=True):
        await client.open()
        assert isinstance(await client.join(name), p.Joined)
    for client in clients:
        await client.start_media(SLOTS, [SmallVideo(), AudioStreamTrack()])
    host_id, member_id = (f"user:{u.me['id']}" for _, u in (host, member))
    await clients[0].wait_received(member_id, "video", 10, within=30)
    await clients[1].wait_received(host_id, "video", 10, within=30)
    return clients


@needs_pg
@needs_redis
async def test_room_across_nodes_and_after_its_node_dies(cluster: Cluster) -> None:
    a, b, village, internist, request = await _accepted_consult(cluster, "视频会诊患者", "发热")

    async with aiohttp.ClientSession() as http:
        # the host joins through A (A hosts the room), the specialist through B (relayed to A)
        first = await _meet(http, request["id"], (a, village), (b, internist))
        await a.stop(signal.SIGKILL)
        for client in first:
            await client.closed.wait()
            await client.close()
        # both rejoin through B, which re-creates the room
        again = await _meet(http, request["id"], (b, village), (b, internist))
        for client in again:
            await client.close()


@needs_pg
@needs_redis
async def test_stopping_nodes_tell_their_participants(cluster: Cluster) -> None:
    """SIGTERM on the relaying node: its participants get 1012 and rejoin elsewhere; SIGTERM on
    the room's node: everyone gets ``bye`` ``shutdown``; each node exits 0 within 10 s."""
    a, b, village, internist, request = await _accepted_consult(cluster, "停机患者", "胸闷")
    path = f"/api/v1/rooms/{request['id']}/ws"
    async with aiohttp.ClientSession() as http:
        host = RoomClient(http, a.url + path, village.token)
        member = RoomClient(http, b.url + path, internist.token)  # relayed to A
        for client in (host, member):
            await client.open()
            assert isinstance(await client.join(), p.Joined)

        b.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            await member.closed.wait()
            assert await b.proc.wait() == 0
        assert member.ws is not None and member.ws.close_code == 1012
        again = RoomClient(http, a.url + path, internist.token)
        await again.open()
        assert isinstance(await again.join(), p.Joined)

        a.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            for client in (host, again):
                assert (await client.expect(p.Bye)).reason is p.ByeReason.SHUTDOWN
            assert await a.proc.wait() == 0
        for client in (host, member, again):
            await client.close()


async def _accepted_consult(
    cluster: Cluster, name: str, question: str
) -> tuple[Node, Node, ApiUser, ApiUser, dict[str, Any]]:
    """Nodes a (demo data) and b up; a village doctor on a asks for a video consult that an
    internist on b accepts: (a, b, village, internist, request)."""
    a = await cluster.start("a", "--demo")
    await a.wait_healthy()
    b = await cluster.start("b")
    await b.wait_healthy()
    village, internist = await a.login("dr-village"), await b.login("internist")
    patient = await new_patient(village, name)
    request = (
        await village.post(
            "/api/v1/requests",
            {"patient_id": patient["id"], "kind": "video_consult", "clinical_question": question},
        )
    ).ok()
    (await internist.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    return a, b, village, internist, request
