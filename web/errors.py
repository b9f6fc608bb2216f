"""The one translation point from errors to HTTP responses.

Domain errors carry a stable code; this middleware maps their class to a status. Malformed input
is 400/422 naming the field; nothing a client sends produces a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from consult import errors as e
from consult import fhir
from consult.db import is_lock_timeout

logger = logging.getLogger(__name__)

STATUS: tuple[tuple[type[e.DomainError], int], ...] = (
    (e.AccountLocked, 423),
    (e.AuthenticationFailed, 401),
    (e.NotFound, 404),
    (e.ConsentRequired, 403),
    (e.Forbidden, 403),
    (e.InvalidTransition, 409),
    (e.Conflict, 409),
    (e.InvalidInput, 422),
    (e.TooLarge, 413),
    (e.Busy, 503),
    (e.UpstreamTimeout, 504),
    (e.UpstreamFailed, 502),
)


class ApiError(Exception):
    """An error raised by the web layer itself (bad JSON, a bad query)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if field:
        body["error"]["field"] = field
    body["error"].update(extra)
    return body


def status_of(exc: e.DomainError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


DATABASE_BUSY = "数据库繁忙，请稍后再试 / the database is busy; try again in 1 s"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


FHIR_PREFIX = "/fhir"
FHIR_ISSUE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-costly",
    422: "invalid",
    423: "security",
    500: "exception",
    503: "transient",
}
"""HTTP status -> FHIR issue type of the OperationOutcome."""


def _respond(
    request: web.Request,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """The error body: our JSON error, or under ``/fhir`` an OperationOutcome."""
    if request.path.startswith(FHIR_PREFIX):
        issue = FHIR_ISSUE.get(status, "processing")
        outcome = fhir.operation_outcome(issue, message)
        outcome["issue"][0]["details"] = {"text": code}
        if field:
            outcome["issue"][0]["expression"] = [field]
        return web.json_response(
            outcome, status=status, headers=headers, content_type="application/fhir+json"
        )
    return web.json_response(
        error_body(code, message, field, **extra), status=status, headers=headers
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except e.DomainError as exc:
        status = status_of(exc)
        if isinstance(exc, e.InvalidInput) and request.path.startswith(FHIR_PREFIX):
            status = 400  # FHIR: a malformed search is a 400 OperationOutcome
        headers = _headers_of(exc, status)
        details = getattr(exc, "details", None) or {}  # e.g. the referral a 409 names
        return _respond(request, status, exc.code, exc.message, exc.field, headers, **details)
    except ApiError as exc:
        return _respond(request, exc.status, exc.code, exc.message, exc.field, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith(("/api", "/dicom-web", FHIR_PREFIX)):
            raise
        code = exc.reason.lower().replace(" ", "_")
        return _respond(request, exc.status, code, exc.reason, headers=_allow(exc))
    except Exception as exc:
        if is_lock_timeout(exc):  # transient: its transaction was rolled back, nothing kept
            logger.warning("database busy on %s %s: %s", request.method, request.path, exc)
            return _respond(request, 503, "busy", DATABASE_BUSY, headers={"Retry-After": "1"})
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(request, 500, "internal_error", "internal server error")


def _headers_of(exc: e.DomainError, status: int) -> dict[str, str] | None:
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, e.Busy):
        return {"Retry-After": str(exc.retry_after)}
    return None


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None
