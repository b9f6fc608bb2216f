"""The regional FHIR platform over HTTP (:class:`consult.regional.RegionalSource`).

Only the configured server is asked, with a bounded time and answer size; what it answers is
parsed here as JSON and read by :mod:`consult.fhir.regional`. Any failure is an
``UpstreamFailed`` (502) or ``UpstreamTimeout`` (504) naming the platform, never a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from consult.errors import UpstreamFailed, UpstreamTimeout
from web import keys
from web.settings import RegionalFhirSetting

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"


class FhirHttpSource:
    """Searches one FHIR R4 server: ``GET [base]/[type]?params``, JSON back."""

    def __init__(self, http: aiohttp.ClientSession, setting: RegionalFhirSetting) -> None:
        self._http = http
        self._setting = setting
        self.name = setting.name
        self.identifier_system = setting.identifier_system

    async def search(self, resource_type: str, params: Mapping[str, str]) -> Any:
        url = f"{self._setting.url}/{resource_type}"
        headers = {"Accept": FHIR_JSON}
        if self._setting.token:
            headers["Authorization"] = f"Bearer {self._setting.token}"
        timeout = aiohttp.ClientTimeout(total=self._setting.timeout_seconds)
        try:
            async with self._http.get(
                url, params=dict(params), headers=headers, timeout=timeout, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    raise UpstreamFailed(
                        f"the regional platform answered {resp.status} "
                        f"to the {resource_type} search"
                    )
                body = await resp.content.read(self._setting.max_response_kb * 1024 + 1)
        except TimeoutError:
            raise UpstreamTimeout(
                f"the regional platform did not answer within {self._setting.timeout_seconds:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            logger.warning("regional platform %s: %s", self._setting.url, exc)
            raise UpstreamFailed("the regional platform cannot be reached") from None
        if len(body) > self._setting.max_response_kb * 1024:
            raise UpstreamFailed(
                f"the regional platform's {resource_type} answer is over "
                f"{self._setting.max_response_kb} KB"
            )
        return _json(body, resource_type)


REGIONAL = web.AppKey("regional", FhirHttpSource)
"""Set only when ``regional_fhir`` is configured."""


def _json(body: bytes, resource_type: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise UpstreamFailed(
            f"the regional platform's {resource_type} answer is not JSON"
        ) from None


async def regional_ctx(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client for the platform, when one is configured."""
    setting = app[keys.SETTINGS].regional_fhir
    if setting is None:
        yield
        return
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as http:
        app[REGIONAL] = FhirHttpSource(http, setting)
        yield
