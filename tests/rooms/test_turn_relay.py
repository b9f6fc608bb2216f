"""A consult through coturn, relay-only, with the TURN credentials the server minted."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCIceTransportPolicy
from aiortc.mediastreams import AudioStreamTrack

from signaling.client import RoomClient
from signaling.turn import verify_credentials
from tests.conftest import Api, Database, make_settings
from tests.rooms.test_consult_room import SLOTS, consult
from tests.signaling.media_sources import SmallVideo
from web.app import create_app

TURNSERVER = shutil.which("turnserver")
SECRET = "loopback-test-secret"
pytestmark = pytest.mark.skipif(
    TURNSERVER is None, reason="coturn is not installed (scripts/install-peers.sh)"
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    port = free_udp_port()
    assert TURNSERVER is not None
    proc = subprocess.Popen(
        [
            TURNSERVER,
            "-n",
            "--listening-ip=127.0.0.1",
            f"--listening-port={port}",
            "--relay-ip=127.0.0.1",
            "--use-auth-secret",
            f"--static-auth-secret={SECRET}",
            "--realm=telecenter",
            "--allow-loopback-peers",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-tcp-relay",
            "--min-port=49160",
            "--max-port=49999",
            f"--log-file={tmp_path / 'turn.log'}",
            "--simple-log",
            f"--pidfile={tmp_path / 'turn.pid'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_relay_only_consult_through_coturn(
    tmp_path: Path, seeded_database: Database, coturn: int
) -> None:
    turn_url = f"turn:127.0.0.1:{coturn}?transport=udp"
    settings = make_settings(tmp_path, seeded_database, turn_urls=[turn_url], turn_secret=SECRET)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        api = Api(client)
        village, internist, request = await consult(api)
        peers = []
        for user in (village, internist):
            info = (await user.get(f"/api/v1/requests/{request['id']}/room")).ok()
            [server] = info["ice_servers"]
            assert server["urls"] == [turn_url]
            assert verify_credentials(
                SECRET, server["username"], server["credential"], now=time.time()
            )
            config = RTCConfiguration(
                iceServers=[
                    RTCIceServer(
                        urls=server["urls"],
                        username=server["username"],
                        credential=server["credential"],
                    )
                ],
                iceTransportPolicy=RTCIceTransportPolicy.RELAY,
                bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            )
            room = RoomClient(client.session, str(client.make_url(info["ws_path"])), user.token)
            await room.open()
            await room.join()
            peers.append((room, config))
        for room, config in peers:
            await room.start_media(SLOTS, [SmallVideo(), AudioStreamTrack()], config)
        (host, _), (member, _) = peers
        await member.wait_received(f"user:{village.me['id']}", "video", 10, within=30)
        await host.wait_received(f"user:{internist.me['id']}", "video", 10, within=30)
        for room, _ in peers:
            assert room.pc is not None
            transport = room.pc.getTransceivers()[0].sender.transport.transport
            assert transport.iceGatherer.getLocalCandidates()
            assert all(c.type == "relay" for c in transport.iceGatherer.getLocalCandidates())
            await room.close()
    finally:
        await client.close()
