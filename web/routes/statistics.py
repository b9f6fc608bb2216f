"""Statistics of the community over a period (JSON, and CSV to export)."""

from __future__ import annotations

import csv
import datetime as dt
import io

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


def to_csv(stats: Statistics) -> str:
    """Rows of ``section, institution_id, kind, priority, measure, value``."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["section", "institution_id", "kind", "priority", "measure", "value"])
    w.writerow(["period", "", "", "", "since", stats.since.isoformat()])
    w.writerow(["period", "", "", "", "until", stats.until.isoformat()])
    for v in stats.volumes:
        for measure in ("requests", "completed", "cancelled", "open", "overdue"):
            w.writerow(["volume", v.institution_id, v.kind.value, "", measure, getattr(v, measure)])
    for t in stats.turnaround:
        for measure in (
            "completed",
            "median_minutes",
            "p90_minutes",
            "within_deadline",
            "within_deadline_share",
        ):
            w.writerow(
                ["turnaround", "", t.kind.value, t.priority, measure, _v(getattr(t, measure))]
            )
    for name, value in vars(stats.critical).items():
        w.writerow(["critical", "", "", "", name, _v(value)])
    for name, value in vars(stats.referrals).items():
        w.writerow(["referrals", "", "", "", name, _v(value)])
    for name in ("consults_requested", "consults_completed", "consult_median_minutes"):
        w.writerow(["consults", "", "", "", name, _v(getattr(stats, name))])
    return out.getvalue()


def _v(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)
