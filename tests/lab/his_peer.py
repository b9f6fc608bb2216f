"""A clinic's HIS for the tests: an asyncio MLLP server written here (not the center's own
listener) that records what it receives and answers each message with a scripted ACK."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

START, END = b"\x0b", b"\x1c\r"


class FakeHis:
    """Answers AA unless ``script`` says otherwise: (MSA-1, MSA-3) pairs, used in turn."""

    def __init__(self, facility: str, script: list[tuple[str, str]] | None = None) -> None:
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
        code, text = self.script.popleft() if self.script else ("AA", "")
        control = message.split("\r")[0].split("|")[9]
        return (
            f"MSH|^~\\&|HIS|{self.facility}|TELECENTER|COUNTY|20260101000000||ACK|A{control[:18]}"
            f"|P|2.5.1\rMSA|{code}|{control}|{text}"
        )


def fields(message: str, segment: str) -> list[list[str]]:
    """Each ``segment`` of the message split into fields (index = HL7 field number)."""
    return [s.split("|") for s in message.split("\r") if s.startswith(segment + "|")]
