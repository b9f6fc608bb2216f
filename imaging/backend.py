"""How the node's association threads reach :class:`imaging.service.NodeService`.

Handlers call a :class:`NodeBackend` synchronously from their thread. In the server process
that is :class:`LoopBackend` (the coroutines run on the event loop,
``asyncio.run_coroutine_threadsafe``); in a node worker process it is
:class:`imaging.worker.RemoteBackend` (the same calls over a socket to the server process).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from imaging.header import InstanceHeader
from imaging.node_values import (
    DeviceInfo,
    InstanceRef,
    Level,
    ScheduledStep,
    StepReference,
    UidSelection,
    WorklistKeys,
)
from imaging.receiver import Origin, Received

if TYPE_CHECKING:  # a worker process imports this module, never the service behind it
    from imaging.service import NodeService

T = TypeVar("T")

CALL_TIMEOUT_S = 120.0


class NodeBackend(Protocol):
    """The node's questions, asked from an association thread (blocking)."""

    def device(self, title: str) -> DeviceInfo | None: ...

    def claim(self, header: InstanceHeader, origin: Origin) -> None:
        """Grant the instance's UIDs to its sender, or raise
        :class:`imaging.ownership.UidConflict`: before its file is written."""

    def release(self, header: InstanceHeader, origin: Origin) -> None:
        """Give up a claim whose file could not be written."""

    def index(self, received: Received, origin: Origin) -> None:
        """Queue the index row (its claim is released once it is committed); once this
        returns, a later query sees the instance."""

    def find(
        self, device: DeviceInfo, level: Level, keys: dict[str, str]
    ) -> list[dict[str, Any]]: ...

    def instances(self, device: DeviceInfo, uids: UidSelection) -> list[InstanceRef]: ...

    def worklist(self, device: DeviceInfo, keys: WorklistKeys) -> list[ScheduledStep]: ...

    def mpps_create(
        self, device: DeviceInfo, mpps_uid: str, ref: StepReference, status: str
    ) -> str: ...

    def mpps_set(self, device: DeviceInfo, mpps_uid: str, status: str) -> str: ...


class LoopBackend:
    """A :class:`NodeBackend` in the server process: the service runs on ``loop``."""

    def __init__(
        self, service: NodeService, loop: asyncio.AbstractEventLoop, timeout: float = CALL_TIMEOUT_S
    ) -> None:
        self.service, self.loop, self.timeout = service, loop, timeout

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.timeout)

    def device(self, title: str) -> DeviceInfo | None:
        return self._run(self.service.device(title))

    def claim(self, header: InstanceHeader, origin: Origin) -> None:
        self._run(self.service.claim(header, origin))

    def release(self, header: InstanceHeader, origin: Origin) -> None:
        self.loop.call_soon_threadsafe(self.service.release, header, origin)

    def index(self, received: Received, origin: Origin) -> None:
        # queued on the loop ahead of any query asked after this returns (the loop's FIFO)
        self.loop.call_soon_threadsafe(self.service.index, received, origin)

    def find(self, device: DeviceInfo, level: Level, keys: dict[str, str]) -> list[dict[str, Any]]:
        return self._run(self.service.find(device, level, keys))

    def instances(self, device: DeviceInfo, uids: UidSelection) -> list[InstanceRef]:
        return self._run(self.service.instances(device, uids))

    def worklist(self, device: DeviceInfo, keys: WorklistKeys) -> list[ScheduledStep]:
        return self._run(self.service.worklist(device, keys))

    def mpps_create(
        self, device: DeviceInfo, mpps_uid: str, ref: StepReference, status: str
    ) -> str:
        return self._run(self.service.mpps_create(device, mpps_uid, ref, status))

    def mpps_set(self, device: DeviceInfo, mpps_uid: str, status: str) -> str:
        return self._run(self.service.mpps_set(device, mpps_uid, status))
