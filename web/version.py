"""The installed version of the package (for /healthz, the OpenAPI and FHIR descriptions)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def app_version() -> str:
    try:
        return version("telecenter")
    except PackageNotFoundError:
        return "0+unknown"
