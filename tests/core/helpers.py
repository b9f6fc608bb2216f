"""Helpers for the core API tests: events over the real WebSocket, common set-ups."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType

from consult.residentid import check_character
from tests.conftest import ApiUser


def resident_id(birth: str = "19800101", order: int = 123, region: str = "410102") -> str:
    """A valid resident ID; ``order``'s last digit odd for men, even for women."""
    first17 = f"{region}{birth}{order:03d}"
    return first17 + check_character(first17)


class Events:
    """A live ``/api/v1/events`` subscription of one user."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, user: ApiUser) -> Events:
        ws = await user.client.ws_connect(f"/api/v1/events?access_token={user.token}")
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "hello"
        return cls(ws)

    async def next(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next event of ``kind`` (others are skipped)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {kind} event within {timeout} s")
            msg = await self.ws.receive(timeout=left)
            if msg.type != WSMsgType.TEXT:
                raise AssertionError(f"events socket closed: {msg.type}")
            event = json.loads(msg.data)
            if event["type"] == kind:
                return event

    async def nothing(self, kind: str, wait: float = 0.5) -> None:
        try:
            event = await self.next(kind, timeout=wait)
        except (AssertionError, TimeoutError):
            return
        raise AssertionError(f"unexpected {kind} event: {event}")

    async def close(self) -> None:
        await self.ws.close()


async def new_patient(
    user: ApiUser, name: str = "赵六", *, consent: bool = True, **extra: Any
) -> dict[str, Any]:
    body = {"name": name, "sex": "M", "birth_date": "1980-01-01", **extra}
    patient = (await user.post("/api/v1/patients", body)).ok()
    if consent:
        (await user.post(f"/api/v1/patients/{patient['id']}/consents", {"scope": "records"})).ok()
    return patient  # type: ignore[no-any-return]


async def new_request(
    user: ApiUser, patient_id: int, kind: str = "ecg_read", priority: str = "routine"
) -> dict[str, Any]:
    body = {
        "patient_id": patient_id,
        "kind": kind,
        "priority": priority,
        "clinical_question": "胸痛2小时",
    }
    return (await user.post("/api/v1/requests", body)).ok()  # type: ignore[no-any-return]
