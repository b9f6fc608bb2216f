"""Bearer-token authentication: one middleware resolves the token to a principal."""

from __future__ import annotations

import logging

from aiohttp import web

from consult import people
from consult.errors import AuthenticationFailed
from web import keys
from web.errors import Handler

logger = logging.getLogger(__name__)

PUBLIC_PREFIXES = (
    "/healthz",
    "/metrics",
    "/api/openapi.json",
    "/api/v1/auth/login",
    "/static",
    "/favicon",
)


def bearer_token(request: web.Request) -> str | None:
    """The token from ``Authorization: Bearer``, or ``?access_token=`` (WebSockets, image tags)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query.get("access_token") or None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = bearer_token(request)
    if token is not None and not request.path.startswith(PUBLIC_PREFIXES[:2]):
        center = request.app[keys.CENTER]
        async with center.work(client=request.remote or "") as work:
            try:
                request[keys.PRINCIPAL] = await people.authenticate(work, token)
            except AuthenticationFailed:
                if request.path.startswith(("/api", "/dicom-web")):
                    raise
        request[keys.TOKEN] = token
    return await handler(request)
