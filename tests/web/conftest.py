"""Browser fixtures: headless Chromium (Debian's /usr/bin/chromium) driving the real server on
loopback, every request the browser makes recorded so that tests can assert none leaves it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from tests.conftest import DEMO_PASSWORD, Api, Database

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
BASE_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

pytest.importorskip("playwright.async_api", reason="the playwright Python package is not installed")


@dataclass
class Traffic:
    """Every URL the browser asked for, and every page error."""

    urls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def outside(self) -> list[str]:
        bad = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname not in LOCAL_HOSTS:
                bad.append(url)
        return bad


@dataclass
class Browsers:
    """A Chromium instance; each ``page()`` opens in a fresh context (its own storage and cache,
    like a new profile)."""

    playwright: Any
    base_url: str
    traffic: Traffic
    media: bool = False
    _browser: Any = None

    async def start(self) -> None:
        args = BASE_ARGS + (MEDIA_ARGS if self.media else [])
        self._browser = await self.playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=args, headless=True
        )

    async def page(self, *, width: int = 1366, height: int = 900, lang: str = "zh-CN") -> Any:
        context = await self._browser.new_context(
            viewport={"width": width, "height": height}, locale=lang, base_url=self.base_url
        )
        page = await context.new_page()
        page.on("request", lambda req: self.traffic.urls.append(req.url))
        page.on("pageerror", lambda exc: self.traffic.errors.append(str(exc)))
        page.on("websocket", lambda ws: self.traffic.urls.append(ws.url))
        return page

    async def login(self, username: str, **kw: Any) -> Any:
        page = await self.page(**kw)
        await page.goto("/login")
        await page.fill("#username", username)
        await page.fill("#password", DEMO_PASSWORD)
        await page.click("#login-submit")
        await page.wait_for_url(lambda url: "/login" not in url, timeout=20_000)
        await page.wait_for_selector("#who .inst")
        return page

    async def close(self) -> None:
        if self._browser is not None:
            await self._browser.close()


def app_of(api: Api) -> web.Application:
    """The application behind the test server."""
    return cast(web.Application, api.client.app)


def base_url(api: Api) -> str:
    return str(api.client.make_url("/")).rstrip("/")


async def _browsers(api: Api, media: bool) -> AsyncIterator[Browsers]:
    if not HAVE_CHROMIUM:
        pytest.skip(
            "Chromium is not installed at /usr/bin/chromium (scripts/install-peers.sh installs it)"
        )
    from playwright.async_api import async_playwright

    traffic = Traffic()
    async with async_playwright() as playwright:
        browsers = Browsers(playwright, base_url(api), traffic, media=media)
        await browsers.start()
        try:
            yield browsers
        finally:
            await browsers.close()
    assert not traffic.outside(), f"requests left the loopback server: {traffic.outside()[:5]}"
    assert not traffic.errors, f"uncaught errors in the pages: {traffic.errors[:5]}"


async def sqlite_only(tmp_path: Path) -> AsyncIterator[Database]:
    """A ``database`` override for page tours: the pages do not depend on the backend (the API
    tests and the ECG end-to-end test cover both), and the browser suite stays under 3 minutes."""
    yield Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")


@pytest.fixture
async def browsers(api: Api) -> AsyncIterator[Browsers]:
    """Headless Chromium against the test server; asserts no request left loopback."""
    async for b in _browsers(api, media=False):
        yield b


@pytest.fixture
async def media_browsers(api: Api) -> AsyncIterator[Browsers]:
    """Chromium with a fake camera and microphone."""
    async for b in _browsers(api, media=True):
        yield b


async def wait_js(page: Any, expression: str, timeout: float = 20.0) -> Any:
    """Poll a JavaScript expression until it is truthy (``wait_for_function`` would need
    'unsafe-eval', which the pages' Content-Security-Policy rightly refuses)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.1)


async def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot for reviewers into ``test-artifacts/screenshots``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
