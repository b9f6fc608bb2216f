"""MLLP transport (HL7 v2 over TCP): framing ``VT message FS CR``, an asyncio listener and a
small client with retry.

The listener serves configured peers only (:class:`~lab.mllp_peers.PeerGate`: an address
allow-list, connections per peer and in total), optionally over TLS with client certificates,
and bounds what a connection may hold: one message of ``max_message_bytes`` at most (beyond: an
AR and the connection closed; the buffer never grows past the cap), ``frame_timeout`` seconds
from a message's first byte to its end block (else: an AR and closed), ``idle_timeout`` between
messages. Each framed message goes to a handler (bytes and the peer in, ACK bytes out), answered
in order on the connection; the listener keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lab.mllp_peers import PeerGate

logger = logging.getLogger(__name__)

START = b"\x0b"
END = b"\x1c\x0d"
MAX_MESSAGE_BYTES = 1 << 20
CHUNK = 65536

Handler = Callable[[bytes, str], Awaitable[bytes | None]]
"""Takes a message (without framing) and the peer (``host:port``); returns the ACK to send, or
None for no answer."""


ACK_CODES = frozenset({"AA", "AE", "AR", "CA", "CE", "CR"})


def frame(message: bytes) -> bytes:
    return START + message + END


def ack_code(reply: bytes | None) -> str:
    """MSA-1 of an ACK (``none``: no answer; ``other``: no acknowledgment code in it)."""
    if reply is None:
        return "none"
    for segment in reply.split(b"\r"):
        if segment.startswith(b"MSA") and len(segment) > 3:
            fields = segment.split(segment[3:4])
            code = fields[1].decode("ascii", "replace").strip() if len(fields) > 1 else ""
            return code if code in ACK_CODES else "other"
    return "other"


class MllpCounts(Protocol):
    """Where the listener counts (:class:`web.metrics.MllpMetrics`)."""

    def message(self, ack: str) -> None:
        """A message was answered with the ACK code ``ack`` (see :func:`ack_code`)."""

    def connection(self, outcome: str) -> None:
        """A connection was ``accepted``, ``refused`` (at once) or ``dropped`` (a limit)."""


class _NoCounts:
    def message(self, ack: str) -> None:
        pass

    def connection(self, outcome: str) -> None:
        pass


class FrameTooLarge(ValueError):
    """A message longer than the limit: the connection cannot go on."""


@dataclass(frozen=True)
class MllpLimits:
    """What one connection may hold, and for how long."""

    max_message_bytes: int = MAX_MESSAGE_BYTES
    frame_timeout: float = 10.0
    """Seconds from a message's first byte to its end block (and for a TLS handshake)."""
    idle_timeout: float = 300.0
    """Seconds without a byte between messages before the connection is closed."""

    def __post_init__(self) -> None:
        if self.max_message_bytes < 1 or self.frame_timeout <= 0 or self.idle_timeout <= 0:
            raise ValueError("MLLP limits must be positive")


class Deframer:
    """Incremental MLLP deframer: feed bytes, get whole messages.

    It holds at most one frame (``capacity`` bytes); bytes outside frames are dropped and
    counted in ``junk_bytes``. A frame longer than the limit ends the stream with a
    :class:`FrameTooLarge` in place of the message.
    """

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self.junk_bytes = 0
        self.broken = False
        self.peak = 0
        """The most bytes held at any time."""

    @property
    def capacity(self) -> int:
        """The most this deframer holds: one whole frame of the largest message."""
        return self.max_bytes + len(START) + len(END)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def in_frame(self) -> bool:
        """Whether a message has started and not ended."""
        return bool(self._buffer)

    def room(self) -> int:
        """How many bytes to read next, so that the buffer stays within ``capacity``."""
        return max(1, min(CHUNK, self.capacity - len(self._buffer)))

    def feed(self, data: bytes) -> list[bytes | FrameTooLarge]:
        """Messages completed by ``data``, ending with an error if a frame is too long."""
        if self.broken:
            return [FrameTooLarge(f"message over {self.max_bytes} bytes")]
        self._buffer += data
        self.peak = max(self.peak, len(self._buffer))
        out: list[bytes | FrameTooLarge] = []
        while self._buffer:
            start = self._buffer.find(START)
            if start < 0:
                self.junk_bytes += len(self._buffer)
                self._buffer.clear()
                break
            if start > 0:
                self.junk_bytes += start
                del self._buffer[:start]
            end = self._buffer.find(END, 1)
            if end < 0:
                if len(self._buffer) > self.capacity - len(END) + 1:
                    out.append(self._fail())
                break
            if end - 1 > self.max_bytes:
                out.append(self._fail())
                break
            body = bytes(self._buffer[1:end])
            del self._buffer[: end + len(END)]
            if START in body:  # a frame restarted before the last one ended: keep the newest
                self.junk_bytes += body.rfind(START) + 1
                body = body[body.rfind(START) + 1 :]
            out.append(body)
        return out

    def _fail(self) -> FrameTooLarge:
        self._buffer.clear()
        self.broken = True
        return FrameTooLarge(f"message over {self.max_bytes} bytes")


def tls_server_context(cert: Path, key: Path, ca: Path | None = None) -> ssl.SSLContext:
    """TLS 1.2 or later with the listener's certificate; with ``ca``, every peer must present a
    certificate that authority signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(ca)
    return context


@dataclass
class MllpStats:
    """What the listener has seen (for the logs, the metrics and the tests)."""

    refused: int = 0
    """Connections closed at once (not allowed, over a limit)."""
    dropped: int = 0
    """Connections closed for a frame too large, too slow, or a failed TLS handshake."""
    peak_buffered: int = 0
    """The most bytes any connection's deframer held."""


class _Closed(Exception):
    """The connection ends here (the reason is logged where it is raised)."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    label: str
    deframer: Deframer
    started: float | None = None
    """Loop time at which the current incomplete message was first seen."""


class _HeldProtocol(asyncio.StreamReaderProtocol):
    """A connection that reads nothing until the listener admits it: a refused peer's bytes are
    never read, and a TLS ClientHello is left for the TLS layer (not taken as plain data)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        super().connection_made(transport)


class MllpServer:
    """An asyncio MLLP listener."""

    def __init__(
        self,
        handler: Handler,
        *,
        reject: Callable[[str], bytes] | None = None,
        limits: MllpLimits | None = None,
        gate: PeerGate | None = None,
        tls: ssl.SSLContext | None = None,
        counts: MllpCounts | None = None,
    ) -> None:
        self.handler = handler
        self.counts = counts or _NoCounts()
        self.reject = reject
        self.limits = limits or MllpLimits()
        self.gate = gate or PeerGate()
        self.tls = tls
        self.stats = MllpStats()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        assert self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    def open_connections(self) -> int:
        """Connections admitted and not yet closed."""
        return len(self._connections)

    def listening(self) -> bool:
        """Whether the listener is accepting connections."""
        return self._server is not None and self._server.is_serving()

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()

        def connection() -> asyncio.StreamReaderProtocol:
            return _HeldProtocol(asyncio.StreamReader(limit=CHUNK), self._serve)

        self._server = await loop.create_server(connection, host, port, reuse_address=True)
        logger.info(
            "MLLP listener on %s:%s%s, peers %s",
            host,
            self.port,
            " (TLS)" if self.tls else "",
            ", ".join(map(str, self.gate.allowed)),
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername") or ("?", 0)
        host, label = str(peername[0]), f"{peername[0]}:{peername[1]}"
        refusal = self.gate.admit(host)
        if refusal:  # no byte was read, no TLS handshake spent on it
            self.stats.refused += 1
            self.counts.connection("refused")
            logger.warning("MLLP %s: connection refused (%s)", label, refusal)
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self.counts.connection("accepted")
        conn = _Connection(reader, writer, label, Deframer(self.limits.max_message_bytes))
        try:
            if self.tls is not None:
                await self._handshake(conn)  # resumes reading, now through TLS
            else:
                transport = writer.transport
                assert isinstance(transport, asyncio.Transport)
                transport.resume_reading()
            await self._converse(conn)
        except _Closed:
            self.stats.dropped += 1
            self.counts.connection("dropped")
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            logger.info("MLLP %s: connection ended (%s)", label, type(exc).__name__)
        except asyncio.CancelledError:  # the listener stops; end this connection quietly
            logger.info("MLLP %s: connection closed at shutdown", label)
        finally:
            self.gate.release(host)
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(
                ConnectionError, OSError, TimeoutError, ssl.SSLError, asyncio.CancelledError
            ):  # the connection's last step: a stop arriving now has nothing left to stop
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _handshake(self, conn: _Connection) -> None:
        assert self.tls is not None
        try:
            await asyncio.wait_for(conn.writer.start_tls(self.tls), self.limits.frame_timeout)
        except (ssl.SSLError, TimeoutError, ConnectionError, OSError) as exc:
            logger.warning("MLLP %s: TLS handshake failed (%s)", conn.label, exc)
            raise _Closed from None
        cert = conn.writer.get_extra_info("peercert") or {}
        subject = dict(x[0] for x in cert.get("subject", ()))
        logger.info("MLLP %s: TLS peer %s", conn.label, subject.get("commonName", "-"))

    async def _converse(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        deframer = conn.deframer
        while True:
            data = await self._read(conn, loop.time())
            if not data:
                return
            items = deframer.feed(data)
            self.stats.peak_buffered = max(self.stats.peak_buffered, deframer.peak)
            if items or not deframer.in_frame:
                conn.started = None
            if deframer.in_frame and conn.started is None:
                conn.started = loop.time()
            for item in items:
                if isinstance(item, FrameTooLarge):
                    logger.warning("MLLP %s: %s; connection closed", conn.label, item)
                    await self._send_reject(conn, str(item))
                    raise _Closed
                reply = await self._answer(item, conn.label)
                self.counts.message(ack_code(reply))
                if reply is not None:
                    await self._send(conn, reply)
            if deframer.junk_bytes > self.limits.max_message_bytes:
                logger.warning(
                    "MLLP %s: %d bytes outside frames; connection closed",
                    conn.label,
                    deframer.junk_bytes,
                )
                raise _Closed
            if deframer.junk_bytes and not deframer.in_frame:
                logger.warning("MLLP %s: %d bytes outside frames", conn.label, deframer.junk_bytes)
                deframer.junk_bytes = 0

    async def _read(self, conn: _Connection, now: float) -> bytes:
        """The next bytes, within the time left for the current message (or the idle time)."""
        if conn.started is None:
            timeout = self.limits.idle_timeout
        else:
            timeout = conn.started + self.limits.frame_timeout - now
        try:
            return await asyncio.wait_for(conn.reader.read(conn.deframer.room()), max(timeout, 0))
        except TimeoutError:
            if conn.started is None:
                logger.info("MLLP %s: idle for %.0f s; closed", conn.label, timeout)
                return b""
            logger.warning(
                "MLLP %s: message incomplete after %.1f s (%d bytes); connection closed",
                conn.label,
                self.limits.frame_timeout,
                conn.deframer.buffered,
            )
            await self._send_reject(conn, "message incomplete: no end block in time")
            raise _Closed from None

    async def _send(self, conn: _Connection, reply: bytes) -> None:
        conn.writer.write(frame(reply))
        try:  # a peer that never reads its ACKs holds nothing for long
            await asyncio.wait_for(conn.writer.drain(), self.limits.frame_timeout)
        except TimeoutError:
            logger.warning("MLLP %s: ACK not read in time; connection closed", conn.label)
            raise _Closed from None

    async def _send_reject(self, conn: _Connection, reason: str) -> None:
        if self.reject is None:
            self.counts.message("none")
            return
        reply = self.reject(reason)
        self.counts.message(ack_code(reply))
        with contextlib.suppress(_Closed, ConnectionError, OSError):
            await self._send(conn, reply)

    async def _answer(self, message: bytes, label: str) -> bytes | None:
        try:
            return await self.handler(message, label)
        except Exception:  # the adapter boundary: log, answer nothing, keep serving
            logger.exception("MLLP %s: handler failed", label)
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
