"""Sign-in, sign-out, and who am I."""

from __future__ import annotations

from consult import people
from consult.models import User
from web import keys
from web.api import Call, Endpoints
from web.schemas import LoginIn, LoginOut, MeOut

endpoints = Endpoints("auth")


def me_out(user: User) -> MeOut:
    return MeOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        institution_id=user.institution_id,
        department_id=user.department_id,
        active=user.active,
        department_head=user.department_head,
        institution_name=user.institution.name,
        institution_name_en=user.institution.name_en,
        institution_level=user.institution.level,
    )


@endpoints.post(
    "/api/v1/auth/login",
    summary="Sign in; returns a bearer token",
    body=LoginIn,
    response=LoginOut,
    public=True,
)
async def login(call: Call) -> LoginOut:
    async with call.center.work(client=call.client) as work:
        issued = await people.login(work, call.body.username, call.body.password)
    return LoginOut(token=issued.token, expires_at=issued.expires_at, user=me_out(issued.user))


@endpoints.post("/api/v1/auth/logout", summary="Revoke the token used for this call")
async def logout(call: Call) -> None:
    async with call.work() as work:
        await people.logout(work, call.request[keys.TOKEN])


@endpoints.get("/api/v1/auth/me", summary="The signed-in user", response=MeOut)
async def me(call: Call) -> MeOut:
    async with call.work() as work:
        user = await work.session.get(User, call.principal.user_id)
        assert user is not None
        return me_out(user)
