"""MLLP transport (HL7 v2 over TCP): framing ``VT message FS CR``, an asyncio listener and a
small client with retry.

The listener hands each framed message to a handler (bytes in, ACK bytes out) and answers in
order on the connection. Bytes outside a frame, oversize frames and clients that vanish midway
are logged and dropped; the listener keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

START = b"\x0b"
END = b"\x1c\x0d"
MAX_MESSAGE_BYTES = 1 << 20
IDLE_TIMEOUT = 300.0

Handler = Callable[[bytes], Awaitable[bytes | None]]
"""Takes a message (without framing); returns the ACK to send, or None for no answer."""


def frame(message: bytes) -> bytes:
    return START + message + END


class FrameTooLarge(ValueError):
    """A message longer than the limit; the rest of it is skipped."""


class Deframer:
    """Incremental MLLP deframer: feed bytes, get whole messages."""

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._skipping = False
        self.junk_bytes = 0

    def feed(self, data: bytes) -> list[bytes | FrameTooLarge]:
        """Messages completed by ``data``, with an error in place of each oversize one."""
        self._buffer += data
        out: list[bytes | FrameTooLarge] = []
        while True:
            if self._skipping:
                end = self._buffer.find(END)
                if end < 0:
                    del self._buffer[: max(0, len(self._buffer) - 1)]
                    return out
                del self._buffer[: end + len(END)]
                self._skipping = False
                continue
            start = self._buffer.find(START)
            if start < 0:
                self.junk_bytes += len(self._buffer)
                self._buffer.clear()
                return out
            if start > 0:
                self.junk_bytes += start
                del self._buffer[:start]
            end = self._buffer.find(END, 1)
            if end < 0:
                if len(self._buffer) > self.max_bytes + 1:
                    out.append(FrameTooLarge(f"message over {self.max_bytes} bytes"))
                    self._buffer.clear()
                    self._skipping = True
                return out
            body = bytes(self._buffer[1:end])
            del self._buffer[: end + len(END)]
            if len(body) > self.max_bytes:
                out.append(FrameTooLarge(f"message over {self.max_bytes} bytes"))
                continue
            if START in body:  # a frame restarted before the last one ended: keep the newest
                self.junk_bytes += body.rfind(START) + 1
                body = body[body.rfind(START) + 1 :]
            out.append(body)


class MllpServer:
    """An asyncio MLLP listener."""

    def __init__(
        self,
        handler: Handler,
        *,
        reject: Callable[[str], bytes] | None = None,
        max_bytes: int = MAX_MESSAGE_BYTES,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.handler = handler
        self.reject = reject
        self.max_bytes = max_bytes
        self.idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        assert self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        logger.info("MLLP listener on %s:%s", host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        deframer = Deframer(self.max_bytes)
        try:
            while True:
                data = await asyncio.wait_for(reader.read(65536), self.idle_timeout)
                if not data:
                    break
                for item in deframer.feed(data):
                    reply = await self._answer(item, peer)
                    if reply is not None:
                        writer.write(frame(reply))
                        await writer.drain()
                if deframer.junk_bytes:
                    logger.warning("MLLP %s: %d bytes outside frames", peer, deframer.junk_bytes)
                    deframer.junk_bytes = 0
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            logger.info("MLLP %s: connection ended (%s)", peer, type(exc).__name__)
        except asyncio.CancelledError:  # the listener stops; end this connection quietly
            logger.info("MLLP %s: connection closed at shutdown", peer)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, item: bytes | FrameTooLarge, peer: object) -> bytes | None:
        if isinstance(item, FrameTooLarge):
            logger.warning("MLLP %s: %s", peer, item)
            return self.reject(str(item)) if self.reject else None
        try:
            return await self.handler(item)
        except Exception:  # the adapter boundary: log, answer nothing, keep serving
            logger.exception("MLLP %s: handler failed", peer)
            return self.reject("internal error") if self.reject else None


class MllpClient:
    """Send a message and wait for its ACK; reconnect and retry on failure."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.host, self.port = host, port
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, message: bytes) -> bytes:
        """The ACK to ``message``; raises :class:`OSError` after the last retry."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                return await asyncio.wait_for(self._exchange(message), self.timeout)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                last = exc
                await self.close()
                if attempt < self.retries:
                    await asyncio.sleep(self.backoff * 2**attempt)
        raise OSError(f"MLLP peer {self.host}:{self.port} unreachable: {last!r}")

    async def _exchange(self, message: bytes) -> bytes:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(frame(message))
        await self._writer.drain()
        deframer = Deframer()
        while True:
            data = await self._reader.read(65536)
            if not data:
                raise ConnectionError("peer closed before answering")
            for item in deframer.feed(data):
                if isinstance(item, FrameTooLarge):
                    raise ValueError(str(item))
                return item

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None
