"""Node worker processes: the DICOM port's associations spread over several processes.

The server process listens on the DICOM port and accepts on its event loop; each connection goes
(its descriptor, over the worker's ``control`` socket) to the worker with the fewest running
associations. The worker reads, checks and writes the instances and answers the device; what
needs the database it asks back over its ``channel`` (answered here, on the loop, by
:class:`imaging.service.NodeService`). Python threads share one GIL; processes do not, so the
receive path (PDUs, DIMSE, checks, files) scales with the cores.

A worker that dies is replaced; its open associations drop (the device sees the connection close
and sends again) and nothing acknowledged is lost: a C-STORE is answered only once its file is
durable and its index row is queued here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from consult.filestore import sweep_orphans
from imaging import counts as node_counts
from imaging import rpc
from imaging.admission import ConnectionLimits
from imaging.entity import NodeConfig, tls_context
from imaging.node_values import QueryError, UidConflict
from imaging.service import NodeService
from imaging.worker import WorkerSettings

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
RESPAWN_DELAY_S = 1.0
RESPAWN_DELAY_MAX_S = 60.0
STEADY_S = 30.0
"""A worker that ran this long before dying is replaced after the first delay again."""
ACCEPT_RETRY_S = 0.1


@dataclass(frozen=True)
class WorkerState:
    """One worker as the pool sees it."""

    slot: int
    pid: int
    active: int
    """Associations handed to it and not yet ended."""
    ready: bool


@dataclass(eq=False)
class _Worker:
    slot: int
    process: asyncio.subprocess.Process
    control: socket.socket
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    active: int = 0
    peers: Counter[str] = field(default_factory=Counter)
    """The addresses of the connections handed to it and not yet ended."""
    alive: bool = True
    started: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        return _name(self.slot)


class WorkerPool:
    """Listen on the DICOM port and hand each connection to a worker process."""

    def __init__(
        self, config: NodeConfig, service: NodeService, counts: node_counts.NodeCounts
    ) -> None:
        self.config = config
        self.service = service
        self.counts = counts
        self._listeners: dict[bool, socket.socket] = {}
        """The plain port (False) and the TLS port (True)."""
        self._workers: dict[int, _Worker] = {}
        self._connections = ConnectionLimits(config.max_per_peer, config.max_connections)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._accepting: list[asyncio.Task[None]] = []
        self._stopping = False
        self._delays: dict[int, float] = {}
        """Per slot: how long to wait before the next replacement (doubles while it keeps dying)."""
        self._calls: dict[str, Callable[..., Awaitable[Any]]] = {
            "device": service.device,
            "claim": service.claim,
            "find": service.find,
            "instances": service.instances,
            "worklist": service.worklist,
            "mpps_create": service.mpps_create,
            "mpps_set": service.mpps_set,
        }

    @property
    def port(self) -> int:
        return self._bound(tls=False)

    @property
    def tls_port(self) -> int:
        return self._bound(tls=True)

    def _bound(self, *, tls: bool) -> int:
        listener = self._listeners.get(tls)
        return 0 if listener is None else int(listener.getsockname()[1])

    def listening(self) -> bool:
        """Whether every port is open and accepted on, with a worker ready to take over."""
        return (
            bool(self._accepting)
            and not self._stopping
            and all(listener.fileno() >= 0 for listener in self._listeners.values())
            and not any(task.done() for task in self._accepting)
            and any(w.alive and w.ready.is_set() for w in self._workers.values())
        )

    def state(self) -> list[WorkerState]:
        """The running workers."""
        return [
            WorkerState(w.slot, w.process.pid, w.active, w.ready.is_set())
            for w in self._workers.values()
            if w.alive
        ]

    async def start(self) -> None:
        tls_context(self.config)  # a bad certificate or key fails here, not in every worker
        try:
            ports = {False: self.config.port, True: self.config.tls_port}
            for tls, port in ports.items():
                if port or not tls:
                    listener = socket.create_server((self.config.host, port), backlog=128)
                    listener.setblocking(False)
                    self._listeners[tls] = listener
            for slot in range(self.config.workers):
                await self._spawn(slot)
            async with asyncio.timeout(START_TIMEOUT_S):
                for worker in self._workers.values():
                    await _started(worker)
        except BaseException:
            await self.stop()
            raise
        self._accepting = [
            asyncio.create_task(self._accept(listener, tls), name=f"dicom-accept-{tls}")
            for tls, listener in self._listeners.items()
        ]

    async def stop(self) -> None:
        """Stop accepting; let the workers finish their associations, then end them."""
        self._stopping = True
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, return_exceptions=True)
        for listener in self._listeners.values():
            listener.close()
        for worker in self._workers.values():
            worker.control.close()  # the worker's signal to stop
        for worker in list(self._workers.values()):
            try:
                async with asyncio.timeout(self.config.stop_grace_s + 2):
                    await worker.process.wait()
            except TimeoutError:
                logger.error("%s did not stop: killing it", worker.name)
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._workers.clear()

    # -- workers -------------------------------------------------------------------------------

    async def _spawn(self, slot: int) -> None:
        control, control_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        channel, channel_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        files = self.service.archive.files
        settings = WorkerSettings(
            name=_name(slot),
            node=self.config,
            root=str(files.root),
            durable=files.durable,
            log_level=logging.getLogger().getEffectiveLevel(),
            per_worker=math.ceil(self.config.maximum_associations / max(1, self.config.workers)),
        )
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "imaging.worker",
                "--control",
                str(control_child.fileno()),
                "--channel",
                str(channel_child.fileno()),
                "--settings",
                settings.to_json(),
                stdin=asyncio.subprocess.DEVNULL,
                pass_fds=(control_child.fileno(), channel_child.fileno()),
            )
        finally:
            control_child.close()
            channel_child.close()
        control.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=channel)
        worker = _Worker(slot, process, control, reader, writer)
        self._workers[slot] = worker
        self._track(asyncio.create_task(self._serve(worker), name=worker.name))
        logger.info("%s started (pid %d)", worker.name, process.pid)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, worker: _Worker) -> None:
        """Answer one worker until its channel closes; replace it if it died."""
        try:
            while True:
                message = await rpc.read_message(worker.reader)
                if message[0] == "call":
                    self._call(worker, message[1], message[2], message[3])
                elif message[1] == "count":
                    self._count(worker, message[2])
                elif message[1] == "ended":
                    self._ended(worker, str(message[2][0]))
                elif message[1] == "ready":
                    worker.ready.set()
        except rpc.ChannelClosed:
            pass
        finally:
            worker.alive = False
            worker.writer.close()
            for host, count in worker.peers.items():  # its connections died with it
                for _ in range(count):
                    self._connections.release(host)
            worker.peers.clear()
        code = await worker.process.wait()
        if self._stopping or not self._accepting:  # stopping, or failed to start
            return
        worker.control.close()
        delay = RESPAWN_DELAY_S
        if time.monotonic() - worker.started < STEADY_S:
            delay = min(self._delays.get(worker.slot, RESPAWN_DELAY_S / 2) * 2, RESPAWN_DELAY_MAX_S)
        self._delays[worker.slot] = delay
        logger.error("%s exited with %s: another in %.0f s", worker.name, code, delay)
        await asyncio.to_thread(sweep_orphans, self.service.archive.files.root)  # its half files
        await asyncio.sleep(delay)
        if not self._stopping:
            await self._spawn(worker.slot)

    def _count(self, worker: _Worker, args: tuple[Any, ...]) -> None:
        """What a worker counted (its associations, its C-STOREs), into the node's counts."""
        method, *rest = args
        if method not in node_counts.METHODS:
            logger.warning("%s: no count %r", worker.name, method)
            return
        getattr(self.counts, method)(*rest)

    def _ended(self, worker: _Worker, host: str) -> None:
        worker.active = max(0, worker.active - 1)
        if worker.peers[host] > 0:
            worker.peers[host] -= 1
            self._connections.release(host)

    def _call(self, worker: _Worker, call_id: int, method: str, args: tuple[Any, ...]) -> None:
        if method in ("index", "release"):  # answered at once: queued ahead of later calls
            try:
                getattr(self.service, method)(*args)
                worker.writer.write(rpc.frame(("ok", call_id, None)))
            except Exception as exc:  # the pool's boundary: the worker reports the failure
                logger.exception("%s of an instance failed", method)
                worker.writer.write(rpc.error_frame(call_id, exc))
            return
        call = self._calls.get(method)
        if call is None:
            worker.writer.write(rpc.error_frame(call_id, ValueError(f"no call {method!r}")))
            return
        self._track(asyncio.create_task(self._answer(worker, call_id, call(*args))))

    async def _answer(self, worker: _Worker, call_id: int, answer: Awaitable[Any]) -> None:
        try:
            data = rpc.frame(("ok", call_id, await answer))
        except (QueryError, UidConflict) as exc:  # an answer: the worker maps it to a status
            data = rpc.error_frame(call_id, exc)
        except Exception as exc:  # the pool's boundary: the worker maps it to a DICOM status
            logger.exception("%s: a node call failed", worker.name)
            data = rpc.error_frame(call_id, exc)
        if worker.alive:
            worker.writer.write(data)
            with contextlib.suppress(ConnectionError):
                await worker.writer.drain()

    # -- connections ---------------------------------------------------------------------------

    async def _accept(self, listener: socket.socket, tls: bool) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, address = await loop.sock_accept(listener)
            except OSError as exc:  # out of descriptors, or the like: keep listening
                logger.error("accepting a DICOM connection failed: %s", exc)
                await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            try:
                self._hand(connection, address, tls)
            finally:
                connection.close()  # the worker holds its own descriptor now

    def _hand(self, connection: socket.socket, address: Any, tls: bool) -> None:
        ready = [w for w in self._workers.values() if w.alive and w.ready.is_set()]
        if not ready:
            logger.error("no DICOM worker is running: connection from %s closed", address)
            return
        host = str(address[0])
        if not self._connections.admit(host):  # closed unread by the caller
            return
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for worker in sorted(ready, key=lambda w: w.active):
            try:
                message = json.dumps([*address[:2], tls]).encode()
                socket.send_fds(worker.control, [message], [connection.fileno()])
            except OSError as exc:
                logger.warning("%s did not take a connection: %s", worker.name, exc)
                continue
            worker.active += 1
            worker.peers[host] += 1
            return
        self._connections.release(host)
        logger.error("no DICOM worker took the connection from %s", address)


def _name(slot: int) -> str:
    return f"dicom-worker-{slot}"


async def _started(worker: _Worker) -> None:
    """Wait for a new worker's ``ready``; raise if it exits first."""
    ready = asyncio.ensure_future(worker.ready.wait())
    exited = asyncio.ensure_future(worker.process.wait())
    await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    exited.cancel()
    if not worker.ready.is_set():
        raise RuntimeError(
            f"{worker.name} exited while starting (code {worker.process.returncode})"
        )
