"""Sign-in, sign-out, and who am I."""

from __future__ import annotations

from aiohttp import web
from pydantic import TypeAdapter

from consult import people
from consult.errors import AuthenticationFailed
from consult.models import User
from web import keys
from web.api import Call, Endpoints
from web.auth import clear_session_cookies, csrf_token, set_session_cookies
from web.errors import ApiError
from web.login_throttle import Throttled, sign_in_keys
from web.schemas import LoginIn, LoginOut, MeOut

endpoints = Endpoints("auth")


def me_out(user: User, timezone: str = "Asia/Shanghai") -> MeOut:
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
        timezone=timezone,
    )


@endpoints.post(
    "/api/v1/auth/login",
    summary="Sign in; returns a bearer token and sets the pages' session cookie (HttpOnly, "
    "SameSite=Strict) with its CSRF companion",
    body=LoginIn,
    response=LoginOut,
    public=True,
)
async def login(call: Call) -> web.Response:
    throttle = call.request.app[keys.LOGIN_THROTTLE]
    username = call.body.username
    try:
        attempt = throttle.admit(sign_in_keys(username, call.client))
    except Throttled as exc:
        await people.refuse_throttled(call.center, call.client, username, "rate")
        raise ApiError(
            429,
            "too_many_attempts",
            f"登录尝试过多, 请 {exc.retry_after} 秒后再试 / too many sign-in attempts; "
            f"try again in {exc.retry_after} s",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    with attempt:  # a user who signs in, or an attempt refused as busy, gives its slot back
        try:
            issued = await people.sign_in(
                call.center, username, call.body.password, client=call.client
            )
        except AuthenticationFailed:
            attempt.failed()  # failures count for the window
            raise
    user = me_out(issued.user, call.request.app[keys.SETTINGS].timezone)
    out = LoginOut(
        token=issued.token,
        expires_at=issued.expires_at,
        user=user,
        csrf_token=csrf_token(issued.token),
    )
    response = web.json_response(_LOGIN.dump_python(out, mode="json"))
    set_session_cookies(response, call.request, issued.token, issued.expires_at)
    return response


_LOGIN = TypeAdapter(LoginOut)


@endpoints.post(
    "/api/v1/auth/logout", summary="Revoke the token used for this call", aggregate=True
)
async def logout(call: Call) -> web.Response:
    async with call.work() as work:
        await people.logout(work, call.request[keys.TOKEN])
    response = web.Response(status=204)
    clear_session_cookies(response, call.request)
    return response


@endpoints.get("/api/v1/auth/me", summary="The signed-in user", response=MeOut, aggregate=True)
async def me(call: Call) -> MeOut:
    async with call.work() as work:
        user = await work.session.get(User, call.principal.user_id)
        assert user is not None
        return me_out(user, call.request.app[keys.SETTINGS].timezone)
