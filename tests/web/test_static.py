"""The page shells and the static files over plain HTTP: caching, gzip, no path escapes."""

from __future__ import annotations

import gzip
import re

from tests.conftest import Api
from tests.web.conftest import app_of
from web.pages import PAGES, STATIC_VERSION


async def test_every_page_is_a_small_shell_with_a_strict_policy(api: Api) -> None:
    for path in (
        "/",
        "/login",
        "/clinic",
        "/worklist/ecg_read",
        "/ecg/1",
        "/imaging/1",
        "/lab",
        "/lab/patient/1",
        "/room/1",
        "/referrals",
        "/admin",
        "/audit",
        "/report/1/print",
    ):
        resp = await api.anonymous("GET", path)
        assert resp.status == 200, path
        html = resp.body.decode()
        assert '<script type="module"' in html and "http://" not in html and "https://" not in html
    async with api.client.get("/clinic", headers={"Accept-Encoding": "gzip"}) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["Cache-Control"] == "no-cache"
    assert len(PAGES) >= 12


async def test_versioned_static_files_are_immutable_and_gzipped(api: Api) -> None:
    html = (await api.anonymous("GET", "/clinic")).body.decode()
    css = re.search(r'href="(/static/v/[0-9a-f]+/app\.css)"', html)
    assert css is not None
    version = app_of(api)[STATIC_VERSION]
    assert f"/static/v/{version}/" in css.group(1)
    async with api.client.get(
        css.group(1), headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    ) as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert r.headers["Content-Encoding"] == "gzip" and r.headers["Content-Type"].startswith(
            "text/css"
        )
        body = gzip.decompress(await r.read())
        etag = r.headers["ETag"]
    assert b"@media print" in body
    async with api.client.get(css.group(1), headers={"If-None-Match": etag}) as r:
        assert r.status == 304
    async with api.client.get(f"/static/v/{version}/js/pages/ecg.js") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript")
    async with api.client.get("/static/v/0000/js/api.js") as r:  # an old version: revalidate
        assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"
    async with api.client.get("/static/js/api.js") as r:
        assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"


async def test_static_paths_cannot_escape(api: Api) -> None:
    for path in (
        "/static/../pages.py",
        "/static/%2e%2e/pages.py",
        "/static/js/../../pages.py",
        "/static/v/x/..%2f..%2fpages.py",
        "/static/nope.js",
    ):
        async with api.client.get(path) as r:
            assert r.status == 404, path
