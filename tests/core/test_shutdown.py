"""A real ``telecenter serve --demo`` stopped with SIGTERM while a consult room, an events socket,
a DICOM association and an MLLP connection are open: everyone is told, and the process exits 0
within 10 s."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification

from signaling import protocol as p
from tests.core.test_serve import free_port

EXIT_WITHIN = 10.0


def start_server(tmp_path: Path, port: int, dicom_port: int, mllp_port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "TELECENTER_ARGON2_TIME_COST": "1",
        "TELECENTER_ARGON2_MEMORY_KIB": "1024",
        "TELECENTER_ARGON2_PARALLELISM": "1",
        "TELECENTER_DICOM_STOP_GRACE_SECONDS": "1",  # the held association is aborted after it
    }
    log = (tmp_path / "server.log").open("wb")  # a pipe nobody reads would block the server
    args = ["serve", "--demo", "--data-dir", str(tmp_path / "var"), "--port", str(port)]
    args += ["--dicom-port", str(dicom_port), "--mllp-port", str(mllp_port)]
    return subprocess.Popen(
        [sys.executable, "-m", "web.cli", *args], env=env, stdout=log, stderr=log
    )


async def until_healthy(http: aiohttp.ClientSession, base: str, proc: subprocess.Popen) -> None:
    async with asyncio.timeout(60):
        while proc.poll() is None:
            try:
                async with http.get(f"{base}/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)  # polling the condition, with the deadline above
    raise AssertionError(f"server exited early with {proc.returncode}")


async def exit_code(proc: subprocess.Popen, within: float) -> int | None:
    try:
        return await asyncio.to_thread(proc.wait, max(within, 0.0))
    except subprocess.TimeoutExpired:
        return None


async def room_of_new_consult(http: aiohttp.ClientSession, base: str, token: str) -> int:
    auth = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{base}/api/v1/patients", headers=auth) as answer:
        patient = (await answer.json())[0]
    body = {
        "patient_id": patient["id"],
        "kind": "video_consult",
        "priority": "urgent",
        "clinical_question": "胸闷，请心内科会诊",
    }
    async with http.post(f"{base}/api/v1/requests", json=body, headers=auth) as answer:
        assert answer.status == 201, await answer.text()
        return int((await answer.json())["id"])


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: type[p.Message]) -> Any:
    async with asyncio.timeout(EXIT_WITHIN):
        while True:
            frame = await ws.receive()
            assert frame.type is aiohttp.WSMsgType.TEXT, f"socket closed first: {frame}"
            msg = p.decode(frame.data)
            if isinstance(msg, kind):
                return msg


def held_association(dicom_port: int) -> Association:
    ae = AE(ae_title="DEMO-CT")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", dicom_port, ae_title="TELECENTER")
    assert assoc.is_established
    return assoc


async def test_sigterm_says_goodbye_everywhere_and_exits_in_time(tmp_path: Path) -> None:
    port, dicom_port, mllp_port = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(tmp_path, port, dicom_port, mllp_port)
    assoc: Association | None = None
    try:
        async with aiohttp.ClientSession() as http:
            await until_healthy(http, base, proc)
            login = {"username": "dr-village", "password": "demo-password"}
            async with http.post(f"{base}/api/v1/auth/login", json=login) as answer:
                token = (await answer.json())["token"]
            room = await room_of_new_consult(http, base, token)
            ws = await http.ws_connect(
                f"{base.replace('http', 'ws')}/api/v1/rooms/{room}/ws?token={token}"
            )
            await ws.send_str(p.encode(p.Join()))
            assert (await next_of(ws, p.Joined)).role is p.Role.HOST
            lurker = await http.ws_connect(
                f"{base.replace('http', 'ws')}/api/v1/rooms/{room}/ws?token={token}"
            )
            events = await http.ws_connect(
                f"{base.replace('http', 'ws')}/api/v1/events?access_token={token}"
            )
            assert (await events.receive_json(timeout=5))["type"] == "hello"
            assoc = await asyncio.to_thread(held_association, dicom_port)
            lis, _ = await asyncio.open_connection("127.0.0.1", mllp_port)  # an idle LIS link

            proc.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            assert (await next_of(ws, p.Bye)).reason is p.ByeReason.SHUTDOWN
            closing = await ws.receive(timeout=EXIT_WITHIN)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert (await next_of(lurker, p.Bye)).reason is p.ByeReason.SHUTDOWN  # never joined
            gone = await events.receive(timeout=EXIT_WITHIN)
            assert gone.type is aiohttp.WSMsgType.CLOSE
            assert gone.data == aiohttp.WSCloseCode.GOING_AWAY
            assert await asyncio.wait_for(lis.read(), EXIT_WITHIN) == b""  # MLLP closed it
            assert await exit_code(proc, EXIT_WITHIN - (time.monotonic() - stopped)) == 0
        assert assoc.is_aborted  # the held association was cut at the bound
        log = (tmp_path / "server.log").read_text()
        assert "shutdown: sockets and listeners closed" in log
        assert "Traceback" not in log
    finally:
        if assoc is not None and assoc.is_alive():
            assoc.abort()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
