"""The HTTP access log, with credentials in query strings redacted.

Browsers' WebSockets cannot send headers, so the events socket takes ``?access_token=`` and a
room socket ``?token=``; neither may reach the log file in clear (nor may a password or a CSRF
token that a client put in a URL by mistake).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from aiohttp.abc import BaseRequest
from aiohttp.web import StreamResponse
from aiohttp.web_log import AccessLogger

SECRET_PARAMETER = re.compile(
    r"(?i)((?:^|[?&;\s])(?:access_token|token|password|passwd|csrf_token|secret)=)[^&;\s\"]*"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with the value of every credential query parameter replaced."""
    return SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", text)


class RedactingAccessLogger(AccessLogger):
    """aiohttp's access logger; every logged value passes through :func:`redact`."""

    def _format_line(
        self, request: BaseRequest, response: StreamResponse, time: float
    ) -> Iterable[tuple[str | tuple[str, str], str]]:
        return [
            (key, redact(value) if isinstance(value, str) else value)
            for key, value in super()._format_line(request, response, time)
        ]


def access_log_options() -> dict[str, Any]:
    """The runner's access-log arguments (``web.run_app``, ``AppRunner``, ``TestServer``)."""
    return {
        "access_log": logging.getLogger("web.access"),
        "access_log_class": RedactingAccessLogger,
    }
