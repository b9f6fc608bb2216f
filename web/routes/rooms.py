"""The consult room of a video-consult request: who may enter, guest invitations."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from consult import rooms
from web.api import Call, Endpoints
from web.rooms_wiring import ICE, ROOMS
from web.schemas import In

endpoints = Endpoints("rooms")
ROOM = r"/api/v1/requests/{id:\d+}/room"


class IceServerOut(BaseModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class RoomOut(BaseModel):
    request_id: int
    ws_path: str = Field(description="connect with ?token=<bearer token or invitation token>")
    role: str | None
    state: str
    participants: int
    recording_allowed: bool
    ice_servers: list[IceServerOut]


class InvitationIn(In):
    guest_name: str = Field(min_length=1, max_length=100)


class InvitationOut(BaseModel):
    token: str
    url: str
    expires_at: dt.datetime


@endpoints.get(
    ROOM, summary="The consult room: the caller's role, its state, ICE servers", response=RoomOut
)
async def room(call: Call) -> RoomOut:
    request_id = call.path_int("id")
    async with call.work() as work:
        request = await rooms.consult_request(work, request_id, "room.read")
        role = await rooms.role_of(work, work.principal, request.id)
        recording = await rooms.recording_allowed(work, request.id)
    live = call.request.app[ROOMS].get(str(request_id))
    servers = call.request.app[ICE].servers_for(
        f"user-{call.principal.user_id}", dt.datetime.now(dt.UTC).timestamp()
    )
    return RoomOut(
        request_id=request_id,
        ws_path=f"/api/v1/rooms/{request_id}/ws",
        role=role.value if role else None,
        state=live.state.value if live else "waiting",
        participants=len(live.admitted()) if live else 0,
        recording_allowed=recording,
        ice_servers=[
            IceServerOut(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in servers
        ],
    )


@endpoints.post(
    ROOM + "/invitations",
    summary="A one-time, expiring link for the patient to join",
    body=InvitationIn,
    response=InvitationOut,
    status=201,
)
async def invite(call: Call) -> InvitationOut:
    rooms.require_clinic_or_specialist(call.principal)
    async with call.work() as work:
        invitation = await rooms.invite(work, call.path_int("id"), call.body.guest_name)
    url = f"/room/{call.path_int('id')}?guest={invitation.token}"
    return InvitationOut(token=invitation.token, url=url, expires_at=invitation.expires_at)
