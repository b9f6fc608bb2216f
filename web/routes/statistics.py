"""Statistics of the community over a period (JSON, and CSV to export)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
from aiohttp import web

from consult import statistics
from consult.statistics import Statistics
from web.api import Call, Endpoints
from web.schemas_statistics import StatisticsOut, StatisticsQuery

endpoints = Endpoints("statistics")
DEFAULT_PERIOD = dt.timedelta(days=30)


async def _compute(call: Call) -> Statistics:
    query: StatisticsQuery = call.query
    async with call.work() as work:
        until = query.until or work.now
        since = query.since or until - DEFAULT_PERIOD
        return await statistics.compute(work, since, until, query.institution_id)


@endpoints.get(
    "/api/v1/statistics",
    summary="Statistics over a period and an institution (aggregates only)",
    query=StatisticsQuery,
    response=StatisticsOut,
    aggregate=True,
)
async def read(call: Call) -> Statistics:
    return await _compute(call)


@endpoints.get(
    "/api/v1/statistics.csv",
    summary="The same statistics as CSV (one row per figure)",
    query=StatisticsQuery,
    aggregate=True,
)
async def export(call: Call) -> web.Response:
    stats = await _compute(call)
    body = to_csv(stats)
    name = f"statistics-{stats.since:%Y%m%d}-{stats.until:%Y%m%d}.csv"
    return web.Response(
        body=("\ufeff" + body).encode(),  # a BOM: spreadsheet programs then read it as UTF-8
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@endpoints.get(
    "/api/v1/statistics.xlsx",
    summary="The same statistics as an XLSX workbook (the CSV's rows, typed cells)",
    query=StatisticsQuery,
    aggregate=True,
)
async def export_xlsx(call: Call) -> web.Response:
    stats = await _compute(call)
    name = f"statistics-{stats.since:%Y%m%d}-{stats.until:%Y%m%d}.xlsx"
    return web.Response(
        body=to_xlsx(stats),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


HEADER = ["section", "institution_id", "kind", "priority", "measure", "value"]


def to_xlsx(stats: Statistics) -> bytes:
    """One sheet of the CSV's rows; numbers as numbers, empty figures as empty cells."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("statistics")
    sheet.append(HEADER)
    for row in _rows(stats):
        sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    return value


def to_csv(stats: Statistics) -> str:
    """Rows of ``section, institution_id, kind, priority, measure, value``."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(HEADER)
    for row in _rows(stats):
        w.writerow([_v(v) for v in row])
    return out.getvalue()


def _rows(stats: Statistics) -> list[list[object]]:
    w: list[list[object]] = []
    w.append(["period", "", "", "", "since", stats.since.isoformat()])
    w.append(["period", "", "", "", "until", stats.until.isoformat()])
    for v in stats.volumes:
        for measure in ("requests", "completed", "cancelled", "open", "overdue"):
            w.append(["volume", v.institution_id, v.kind.value, "", measure, getattr(v, measure)])
    for t in stats.turnaround:
        for measure in (
            "completed",
            "median_minutes",
            "p90_minutes",
            "within_deadline",
            "within_deadline_share",
        ):
            w.append(["turnaround", "", t.kind.value, t.priority, measure, getattr(t, measure)])
    for name, value in vars(stats.critical).items():
        w.append(["critical", "", "", "", name, value])
    for name, value in vars(stats.referrals).items():
        w.append(["referrals", "", "", "", name, value])
    for name in (
        "consults_requested",
        "consults_completed",
        "consult_median_minutes",
        "consult_p90_minutes",
    ):
        w.append(["consults", "", "", "", name, getattr(stats, name)])
    for p in stats.positives:
        for measure in ("reported", "positive", "negative", "positive_share"):
            w.append(
                ["positives", p.institution_id, p.kind.value, "", measure, getattr(p, measure)]
            )
    for load in stats.workload:
        for measure in ("signed", "amended", "median_minutes"):
            value = getattr(load, measure)
            section = f"workload:{load.user_id}:{load.name}"  # one section per specialist
            w.append([section, "", load.kind.value, "", measure, value])
    return w


def _v(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)
