"""Authentication: one middleware resolves the caller's token to a principal.

Two ways to present the token:

- ``Authorization: Bearer <token>`` (API clients, tests, devices); ``?access_token=`` is still
  accepted where a client cannot send headers (a WebSocket from a script), but the pages never
  put a token in a URL.
- The session cookie the pages get at sign-in (``HttpOnly; SameSite=Strict; Path=/``, ``Secure``
  over TLS), so a session survives a reload and a new tab while scripts never see the token.

A request authenticated by the cookie alone must prove it comes from our own pages when it changes
state: the ``X-CSRF-Token`` header must carry the session's CSRF token (a keyed digest of the
session token, also given to the pages in the readable ``tc_csrf`` cookie: double-submit, bound to
the session so a planted cookie is useless), and an ``Origin`` header, when sent, must be ours.
WebSocket upgrades by cookie must come from our origin (browsers always send ``Origin`` there).
Failures answer 403 with the code ``csrf_failed`` or ``origin_mismatch``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import web

from consult import people
from consult.errors import AuthenticationFailed
from web import keys
from web.errors import ApiError, Handler
from web.proxies import client_address, is_secure

logger = logging.getLogger(__name__)

PUBLIC_PREFIXES = (
    "/healthz",
    "/readyz",
    "/api/openapi.json",
    "/api/v1/auth/login",
    "/static",
    "/favicon",
)
SESSION_COOKIE = "tc_session"
CSRF_COOKIE = "tc_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BY_COOKIE = web.RequestKey("by_cookie", bool)
PROBES = ("/healthz", "/readyz")
"""Unauthenticated probes: a token sent to them is not even looked up."""
METRICS_PATH = "/metrics"
COOKIE_PATHS = ("/api", "/dicom-web", "/fhir", METRICS_PATH)
"""Where the session cookie stands for its user (pages and static files need no principal)."""


def bearer_token(request: web.Request) -> str | None:
    """The token from ``Authorization: Bearer``, or ``?access_token=`` (scripted WebSockets)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query.get("access_token") or None


def cookie_token(request: web.Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from the (secret, HttpOnly) session token, so a page
    can only know it by being given it, and a cookie planted by someone else never matches."""
    return hmac.new(session_token.encode(), b"telecenter-csrf", hashlib.sha256).hexdigest()[:43]


def set_session_cookies(
    response: web.StreamResponse, request: web.Request, token: str, expires_at: dt.datetime
) -> None:
    """Give the browser the session cookie and its readable CSRF companion."""
    max_age = max(0, int((expires_at - dt.datetime.now(dt.UTC)).total_seconds()))
    common = {"path": "/", "samesite": "Strict", "secure": is_secure(request), "max_age": max_age}
    response.set_cookie(SESSION_COOKIE, token, httponly=True, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, csrf_token(token), httponly=False, **common)  # type: ignore[arg-type]


def clear_session_cookies(response: web.StreamResponse, request: web.Request) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.del_cookie(name, path="/", samesite="Strict", secure=is_secure(request))


def same_origin(request: web.Request) -> bool:
    """False only when the request names an ``Origin`` other than the host it was sent to."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.netloc.lower() == request.host.lower() and parts.scheme in ("http", "https")


def check_cookie_request(request: web.Request, token: str) -> None:
    """Refuse a cookie-authenticated request that may have been forged by another site."""
    if not same_origin(request):  # browsers always name the origin of a WebSocket or a POST
        raise ApiError(403, "origin_mismatch", "the request does not come from this site")
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent, csrf_token(token)):
        raise ApiError(403, "csrf_failed", f"the {CSRF_HEADER} header is missing or wrong")


def is_metrics_token(request: web.Request) -> bool:
    """Whether ``Authorization: Bearer`` carries the settings' ``metrics_token`` (compared in
    constant time; never taken from the URL, where logs would keep it)."""
    expected = request.app[keys.SETTINGS].metrics_token
    header = request.headers.get("Authorization", "")
    if not expected or header[:7].lower() != "bearer ":
        return False
    return hmac.compare_digest(header[7:].strip().encode(), expected.encode())


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    explicit = bearer_token(request)
    if request.path == METRICS_PATH and is_metrics_token(request):
        request[keys.METRICS_READER] = True
        return await handler(request)
    if explicit is not None:
        token: str | None = explicit
        if request.path.startswith(PROBES):
            return await handler(request)
    elif request.path.startswith(COOKIE_PATHS) and not request.path.startswith(PUBLIC_PREFIXES):
        token = cookie_token(request)
        if token is not None:
            check_cookie_request(request, token)
    else:
        token = None
    if token is not None:
        center = request.app[keys.CENTER]
        async with center.work(client=client_address(request)) as work:
            try:
                request[keys.PRINCIPAL] = await people.authenticate(work, token)
            except AuthenticationFailed:
                if request.path.startswith(("/api", "/dicom-web", "/fhir")):
                    raise
        request[keys.TOKEN] = token
        request[BY_COOKIE] = explicit is None
    return await handler(request)
