"""A clinic's HIS for the tests: an asyncio MLLP server written here (not the center's own
listener) that records what it receives and answers each message with a scripted ACK."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from lab import his
from tests.conftest import Api, ApiUser
from tests.core.helpers import new_patient, new_request

START, END = b"\x0b", b"\x1c\r"


class FakeHis:
    """Answers AA unless ``script`` says otherwise: (MSA-1, MSA-3) pairs, used in turn, or
    (MSA-1, MSA-3, MSA-2) to answer as if to another message."""

    def __init__(self, facility: str, script: list[tuple[str, ...]] | None = None) -> None:
        self.facility = facility
        self.script = deque(script or [])
        self.received: list[str] = []
        self.arrived = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                data = await reader.readuntil(END)
                message = data[data.index(START) + 1 : -len(END)].decode("utf-8")
                self.received.append(message)
                self.arrived.set()
                writer.write(START + self._ack(message).encode() + END)
                await writer.drain()
        writer.close()

    def _ack(self, message: str) -> str:
        code, text, *other = self.script.popleft() if self.script else ("AA", "")
        control = message.split("\r")[0].split("|")[9]
        answers = other[0] if other else control
        return (
            f"MSH|^~\\&|HIS|{self.facility}|TELECENTER|COUNTY|20260101000000||ACK|A{control[:18]}"
            f"|P|2.5.1\rMSA|{code}|{answers}|{text}"
        )


async def clinic_id(admin: ApiUser, code: str) -> int:
    found = [i for i in (await admin.get("/api/v1/institutions")).ok() if i["code"] == code]
    return int(found[0]["id"])


async def sign_ecg_report(api: Api, doctor: str, findings: str) -> dict[str, Any]:
    """A clinic asks for an ECG read over the API; the county reader signs it."""
    clinic, reader = await api.login(doctor), await api.login("ecg-reader")
    patient = await new_patient(clinic, "周九")
    request = await new_request(clinic, patient["id"], "ecg_read")
    (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    draft = (
        await reader.post(
            f"/api/v1/requests/{request['id']}/reports",
            {"findings": findings, "impression": "正常心电图"},
        )
    ).ok()
    return (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()  # type: ignore[no-any-return]


async def deliver(api: Api) -> int:
    """One pass of the HIS outbox (what the background task does)."""
    clients = his.HisClients(timeout=5)
    try:
        return await his.deliver_pending(api.center, clients)
    finally:
        await clients.close()


def fields(message: str, segment: str) -> list[list[str]]:
    """Each ``segment`` of the message split into fields (index = HL7 field number)."""
    return [s.split("|") for s in message.split("\r") if s.startswith(segment + "|")]
