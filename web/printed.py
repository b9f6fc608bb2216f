"""The printed report (PDF) and the public verification page its QR code opens."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from html import escape

from aiohttp import web

from consult import reports
from consult.errors import NotFound
from consult.models import Report
from consult.printing import PrintedReport, render_pdf
from consult.verification import Verification, center_institution, verify
from consult.vocab import RequestKind, Sex
from web import keys
from web.api import Call
from web.login_throttle import Throttled, address_key
from web.pages import CSP, STATIC_VERSION
from web.proxies import client_address, is_secure

KINDS = {
    RequestKind.ECG_READ: "心电图诊断报告",
    RequestKind.IMAGING_READ: "影像诊断报告",
    RequestKind.LAB_TEST: "检验报告",
    RequestKind.VIDEO_CONSULT: "远程会诊意见",
}
SEXES = {Sex.MALE: "男", Sex.FEMALE: "女", Sex.OTHER: "其他", Sex.UNKNOWN: "未知"}
logger = logging.getLogger(__name__)
CHINA = dt.timezone(dt.timedelta(hours=8))


def local_time(at: dt.datetime | None) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if at else "—"


def _age(birth: dt.date | None, on: dt.date) -> str:
    if birth is None:
        return "—"
    return str(on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day)))


def verify_url(call: Call, token: str) -> str:
    """The address printed in the QR code: the settings' ``public_url`` or this request's own."""
    base = call.request.app[keys.SETTINGS].public_url.rstrip("/")
    if not base:
        base = f"{'https' if is_secure(call.request) else 'http'}://{call.request.host}"
    return f"{base}/verify/{token}"


def sheet(report: Report, institution: str, url: str) -> PrintedReport:
    request, patient = report.request, report.request.patient
    signed = report.signed_at or report.created_at
    return PrintedReport(
        institution=institution,
        title=KINDS.get(request.kind, "诊断报告"),
        patient=(
            ("姓名", patient.name),
            ("性别", SEXES.get(patient.sex, "—")),
            ("年龄", _age(patient.birth_date, signed.date())),
            ("申请号", request.identifier),
            ("申请机构", request.requesting_institution.name),
            ("申请时间", local_time(request.created_at)),
        ),
        findings=report.findings,
        impression=report.impression,
        impression_label="会诊意见" if request.kind is RequestKind.VIDEO_CONSULT else "诊断意见",
        signer=report.signer_name or "",
        signed_at=local_time(report.signed_at),
        version=report.version,
        amendment=report.amendment_reason,
        content_hash=report.content_hash,
        verify_url=url,
    )


async def report_pdf(call: Call) -> web.Response:
    async with call.work() as work:
        report = await reports.printable(work, call.path_int("id"))
        center = await center_institution(work)
        doc = sheet(
            report, center.name if center else "", verify_url(call, report.verify_token or "")
        )
        name = f"report-{report.request.identifier}-v{report.version}.pdf"
    loop = asyncio.get_running_loop()
    body = await loop.run_in_executor(call.request.app[keys.EXECUTOR], render_pdf, doc)
    return web.Response(
        body=body,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


def _rows(v: Verification) -> list[tuple[str, str]]:
    state = "已签发 / signed" + ("（更正版 / amended）" if v.amended else "")
    rows = [
        ("报告状态 / Status", state),
        ("报告类型 / Report", KINDS.get(RequestKind(v.kind), "诊断报告")),
        ("版本 / Version", f"第 {v.version} 版 / v{v.version}"),
        ("签发医师 / Signed by", v.signer),
        ("签发时间 / Signed at", local_time(v.signed_at)),
        ("患者 / Patient", v.patient),
        ("内容摘要 / SHA-256", v.content_hash),
    ]
    if v.superseded:
        rows.insert(
            1,
            (
                "已被取代 / Superseded",
                f"已被第 {v.latest_version} 版更正（{local_time(v.latest_signed_at)}），"
                f"请以最新版本为准 / superseded by v{v.latest_version}",
            ),
        )
    return rows


def _page(
    request: web.Request,
    title: str,
    body: str,
    status: int = 200,
    extra: dict[str, str] | None = None,
) -> web.Response:
    css = f"/static/v/{request.app[STATIC_VERSION]}/app.css"
    html = (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(title)}</title>'
        f'<link rel="stylesheet" href="{css}"></head>'
        f'<body><main class="main verify">{body}</main></body></html>\n'
    )
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        **(extra or {}),
    }
    return web.Response(
        text=html, status=status, content_type="text/html", charset="utf-8", headers=headers
    )


async def verify_page(request: web.Request) -> web.Response:
    """``GET /verify/{token}``: no sign-in; one indexed look-up, nothing written.

    An unknown code counts against the client's address (``verify_misses_per_minute``): past the
    limit the page answers ``429`` with ``Retry-After`` before the database is asked, so no one
    can walk the code space or load the database through this public page.
    """
    client = client_address(request)
    try:
        attempt = request.app[keys.VERIFY_THROTTLE].admit((address_key(client),))
    except Throttled as exc:
        logger.warning("verification codes from %s throttled for %d s", client, exc.retry_after)
        return _page(
            request,
            "报告核验 / Report verification",
            "<h1>查询过于频繁 / Too many look-ups</h1>"
            f"<p>请 {exc.retry_after} 秒后再试 / try again in {exc.retry_after} s</p>",
            429,
            {"Retry-After": str(exc.retry_after)},
        )
    with attempt:
        async with request.app[keys.CENTER].work() as work:
            try:
                found = await verify(work, request.match_info["token"])
            except NotFound:
                found = None
        if found is None:
            attempt.failed()
            return _page(
                request,
                "报告核验 / Report verification",
                "<h1>未找到该报告 / No such report</h1>"
                "<p>核验码无效，请核对纸质报告上的二维码 / the code is not valid</p>",
                404,
            )
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in _rows(found))
    head = escape(found.institution) + (
        f" / {escape(found.institution_en)}" if found.institution_en else ""
    )
    return _page(
        request,
        "报告核验 / Report verification",
        f"<h1>{head}</h1><h2>报告核验 / Report verification</h2>"
        f'<dl class="verify-facts" id="verify-facts">{rows}</dl>',
    )


def add_verify_page(app: web.Application) -> None:
    app.router.add_get("/verify/{token}", verify_page)
