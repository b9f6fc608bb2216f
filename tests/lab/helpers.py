"""Helpers of the lab tests: a tiny MLLP peer over a real loopback socket."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

from sqlalchemy import select

from consult.center import Center
from consult.models import Patient
from lab.hl7 import ack_code_of, build_oru
from lab.mllp import Deframer, frame
from lab.tables import LabOrder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Peer:
    """One MLLP connection, as a LIS would open it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.deframer = Deframer()

    @classmethod
    async def connect(cls, port: int, *, source: str = "127.0.0.1", **kw: Any) -> Peer:
        """Connect from the loopback address ``source`` (any of 127.0.0.0/8)."""
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(source, 0), **kw
        )
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self) -> str:
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), 10)
            assert data, "listener closed the connection"
            items = self.deframer.feed(data)
            if items:
                item = items[0]
                assert isinstance(item, bytes)
                return item.decode()

    async def exchange(self, message: str) -> tuple[str, str, str]:
        """Send one message; (MSA-1, MSA-3, the whole ACK)."""
        await self.send_raw(frame(message.encode()))
        ack = await self.reply()
        code, text = ack_code_of(ack)
        return code, text, ack

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def oru(
    placer: str, values: list[tuple[str, str]], *, patient_id: str, filler: str = "", **kw: Any
) -> str:
    return build_oru(
        placer,
        [(code, code, value, "") for code, value in values],
        control_id=uuid.uuid4().hex[:20],
        filler=filler,
        patient_id=patient_id,
        **kw,
    )


async def patient_of(center: Center, placer: str) -> Patient:
    """The patient of the order ``placer`` (whom a LIS names in PID)."""
    async with center.sessions() as session:
        order = await session.scalar(select(LabOrder).where(LabOrder.placer_number == placer))
        assert order is not None
        patient = await session.get(Patient, order.patient_id)
        assert patient is not None
        return patient


async def pid_of(center: Center, placer: str) -> str:
    """PID-3 as our OML sent it: the resident ID, or our patient number."""
    patient = await patient_of(center, placer)
    return patient.resident_id or str(patient.id)
