"""Issue 19.11: after sign-in the browser goes to a path of this site, never to another host."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.web.conftest import Browsers, sqlite_only

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # the pages do not depend on the backend

HOSTILE = [
    "/\\evil.test/x",
    "//evil.test/x",
    "/\t/evil.test",
    "https://evil.test/",
    "%2F%2Fevil.test",
]


async def test_next_is_followed_only_on_this_site(browsers: Browsers) -> None:
    page = await browsers.page(width=390, height=844)  # the village doctor's phone
    here = urlsplit(browsers.base_url).netloc
    for target in [*HOSTILE, "/worklist?tab=mine"]:
        await page.goto("about:blank")  # the page left signed in stops (it would go to /login)
        await page.context.clear_cookies()
        await page.goto(f"/login?next={quote(target, safe='')}")
        await page.fill("#username", "dr-village")
        await page.fill("#password", DEMO_PASSWORD)
        await page.click("#login-submit")
        await page.wait_for_url(lambda url: "/login" not in url, timeout=20_000)
        landed = urlsplit(page.url)
        assert landed.netloc == here, f"next={target!r} left the site for {page.url}"
        if target.startswith("/worklist"):
            assert landed.path == "/worklist" and landed.query == "tab=mine"
        else:
            assert "evil" not in page.url
