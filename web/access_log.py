"""The HTTP access log, with credentials in query strings redacted.

Browsers' WebSockets cannot send headers, so the events socket takes ``?access_token=`` and a
room socket ``?token=``; neither may reach the log file in clear (nor may a password or a CSRF
token that a client put in a URL by mistake). The address logged is the client's as
:func:`web.proxies.client_address` sees it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from aiohttp.abc import BaseRequest
from aiohttp.web import StreamResponse
from aiohttp.web_log import AccessLogger

from web.proxies import client_address

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
            (key, _value(key, value, request))
            for key, value in super()._format_line(request, response, time)
        ]


def _value(key: str | tuple[str, str], value: Any, request: BaseRequest) -> Any:
    if key == "remote_address" and request is not None:
        return client_address(request)  # the client behind trusted proxies, not the proxy
    return redact(value) if isinstance(value, str) else value


def access_log_options() -> dict[str, Any]:
    """The runner's access-log arguments (``web.run_app``, ``AppRunner``, ``TestServer``)."""
    return {
        "access_log": logging.getLogger("web.access"),
        "access_log_class": RedactingAccessLogger,
    }
