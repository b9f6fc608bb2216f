"""Helpers of the lab tests: a tiny MLLP peer over a real loopback socket."""

from __future__ import annotations

import asyncio
import socket
import uuid

from lab.hl7 import ack_code_of, build_oru
from lab.mllp import Deframer, frame


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
    async def connect(cls, port: int) -> Peer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
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


def oru(placer: str, values: list[tuple[str, str]], filler: str = "", patient_id: str = "") -> str:
    return build_oru(
        placer,
        [(code, code, value, "") for code, value in values],
        control_id=uuid.uuid4().hex[:20],
        filler=filler,
        patient_id=patient_id,
    )
