"""Domain errors with stable codes.

Every error the domain raises carries a machine-readable ``code`` and a human message; the web
layer maps the error *class* to an HTTP status in one place (``web/errors.py``), the DICOM and HL7
adapters map them to their own status codes.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every error the domain raises on purpose."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class NotFound(DomainError):
    """The object does not exist, or is outside the caller's scope (never tell which)."""

    code = "not_found"


class Forbidden(DomainError):
    """The caller may see the object but not do this with it."""

    code = "forbidden"


class ConsentRequired(Forbidden):
    """The patient has no active consent covering this access, and no override is active."""

    code = "consent_required"


class InvalidInput(DomainError):
    """A value is malformed or inconsistent; ``field`` names it."""

    code = "invalid_input"


class Conflict(DomainError):
    """The action clashes with stored state (a duplicate, an immutable object)."""

    code = "conflict"


class InvalidTransition(Conflict):
    """A lifecycle transition that the current state does not allow."""

    code = "invalid_transition"


class AuthenticationFailed(DomainError):
    """Unknown user, wrong password, expired or revoked token."""

    code = "authentication_failed"


class AccountLocked(AuthenticationFailed):
    """Too many failed logins; the account is locked for a while."""

    code = "account_locked"


class TooLarge(DomainError):
    """What was sent is larger than accepted (once expanded, for compressed files)."""

    code = "payload_too_large"


class Busy(DomainError):
    """The work is refused for now: as much of it as the server takes is already running."""

    code = "busy"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamFailed(DomainError):
    """A system the center asked on the caller's behalf (the regional platform) failed or
    answered something that is not what was asked for; nothing of it is shown."""

    code = "upstream_failed"


class UpstreamTimeout(UpstreamFailed):
    """That system did not answer within the configured time."""

    code = "upstream_timeout"
