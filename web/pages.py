"""The browser pages: small HTML shells that load one ES module each, and the static files.

Every page is the same shell (one stylesheet, one page module); the module fetches what it shows
from the JSON API with the bearer token kept in ``sessionStorage``. Static files are served from
memory, gzip-compressed once, under a versioned prefix ``/static/v/<hash>/...`` that is cached for
a year (relative imports between modules stay inside the prefix), or unversioned with an ETag.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

logger = logging.getLogger(__name__)

STATIC_ROOT = Path(__file__).resolve().parent / "static"
COMPRESSIBLE = (".js", ".css", ".svg", ".json", ".html", ".txt", ".wav")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".wav": "audio/wav"}

# page path -> (module name, title)
PAGES: dict[str, tuple[str, str]] = {
    "/": ("home", "远程诊断中心"),
    "/login": ("login", "登录 · 远程诊断中心"),
    "/clinic": ("clinic", "诊所工作台"),
    "/worklist/{kind}": ("worklist", "工作列表"),
    r"/ecg/{id:\d+}": ("ecg", "心电阅读"),
    r"/imaging/{id:\d+}": ("imaging", "影像阅读"),
    "/lab": ("lab", "检验"),
    "/lab/{tail:.*}": ("lab", "检验"),
    r"/room/{id:\d+}": ("room", "远程会诊室"),
    "/referrals": ("referrals", "绿色通道转诊"),
    "/admin": ("admin", "系统管理"),
    "/audit": ("audit", "审计日志"),
    "/desk": ("desk", "危急值值班台"),  # -- critical alerts: the duty desk --
    r"/report/{id:\d+}/print": ("print", "报告"),
    r"/consult/{id:\d+}": ("consult", "会诊意见"),  # -- consult: conclusion --
    "/reconciliation": ("reconcile", "待核对资料"),  # -- match --
    "/statistics": ("statistics", "运行统计"),  # -- statistics --
    "/charges": ("charges", "收费与结算"),  # -- charges --
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    etag: str
    content_type: str


@dataclass
class StaticFiles:
    """The files under ``root``, read once into memory (re-read when a file's mtime changes)."""

    root: Path
    _cache: dict[str, tuple[float, StaticFile]] = field(default_factory=dict)

    def version(self) -> str:
        """A short hash over every file's name and content: changes when any file does."""
        digest = hashlib.sha256()
        for path in sorted(self.root.rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(self.root).as_posix().encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:12]

    def get(self, name: str) -> StaticFile | None:
        if "\x00" in name or len(name) > 1024:
            return None  # no file has such a name; the OS would raise on it
        try:
            path = (self.root / name).resolve()
            if not path.is_relative_to(self.root) or not path.is_file():
                return None
        except (OSError, ValueError):
            return None
        mtime = path.stat().st_mtime
        cached = self._cache.get(name)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        body = path.read_bytes()
        suffix = path.suffix.lower()
        zipped = gzip.compress(body, 9, mtime=0) if suffix in COMPRESSIBLE else None
        content_type = (
            TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        item = StaticFile(
            body, zipped, '"' + hashlib.sha256(body).hexdigest()[:20] + '"', content_type
        )
        self._cache[name] = (mtime, item)
        return item


STATIC = web.AppKey("static_files", StaticFiles)
STATIC_VERSION = web.AppKey("static_version", str)


def accepts_gzip(request: web.Request) -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()


def _respond(request: web.Request, item: StaticFile, cache: str) -> web.Response:
    headers = {
        "Cache-Control": cache,
        "ETag": item.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("If-None-Match") == item.etag:
        return web.Response(status=304, headers=headers)
    if item.gzipped is not None and accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=item.gzipped, headers=headers, content_type=item.content_type)
    return web.Response(body=item.body, headers=headers, content_type=item.content_type)


async def static_versioned(request: web.Request) -> web.Response:
    item = request.app[STATIC].get(request.match_info["path"])
    if item is None:
        raise web.HTTPNotFound()
    current = request.match_info["ver"] == request.app[STATIC_VERSION]
    return _respond(request, item, IMMUTABLE if current else REVALIDATE)


async def static_plain(request: web.Request) -> web.Response:
    item = request.app[STATIC].get(request.match_info["path"])
    if item is None:
        raise web.HTTPNotFound()
    return _respond(request, item, REVALIDATE)


def shell(module: str, title: str, version: str) -> str:
    """The HTML of one page: header and main filled in by the page's module."""
    base = f"/static/v/{version}"
    return (
        "<!doctype html>\n"
        '<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title>"
        f'<link rel="icon" href="{base}/img/icon.svg" type="image/svg+xml">'
        f'<link rel="stylesheet" href="{base}/app.css">'
        f'<link rel="modulepreload" href="{base}/js/ui.js">'
        f'<link rel="modulepreload" href="{base}/js/api.js">'
        f'<script type="module" src="{base}/js/pages/{module}.js"></script>'
        f'<script type="module" src="{base}/js/alerts.js"></script>'  # -- critical alerts --
        f'</head><body data-page="{module}"><header id="top" class="top"></header>'
        '<section id="critical-alerts" class="critical-alerts" aria-live="assertive"></section>'
        '<div id="alerts" class="alerts" role="alert" aria-live="assertive"></div>'
        '<main id="main" class="main"><p class="loading">…</p></main>'
        "<noscript>本系统需要启用 JavaScript / JavaScript is required.</noscript>"
        "</body></html>\n"
    )


def page_handler(module: str, title: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        body = shell(module, title, request.app[STATIC_VERSION]).encode()
        headers = {
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Vary": "Accept-Encoding",
        }
        if accepts_gzip(request):
            headers["Content-Encoding"] = "gzip"
            body = gzip.compress(body, 6)
        return web.Response(body=body, headers=headers, content_type="text/html", charset="utf-8")

    return handle


async def favicon(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"/static/v/{request.app[STATIC_VERSION]}/img/icon.svg")


def add_pages(app: web.Application, root: Path = STATIC_ROOT) -> None:
    """Register the pages and the static files on ``app``."""
    files = StaticFiles(root)
    app[STATIC] = files
    app[STATIC_VERSION] = files.version()
    for path, (module, title) in PAGES.items():
        app.router.add_get(path, page_handler(module, title))
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/static/v/{ver}/{path:.+}", static_versioned)
    app.router.add_get("/static/{path:.+}", static_plain)
