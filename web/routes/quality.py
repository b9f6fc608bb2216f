"""Report quality: the second reader's verdict, their queue, discrepancy rates per reader."""

from __future__ import annotations

from typing import Any

from consult import second_reading
from consult.quality_tables import SecondReading
from consult.second_reading import Verdict
from web.api import Call, Endpoints
from web.routes.statistics import DEFAULT_PERIOD
from web.schemas_statistics import QualityOut, QualityQuery, SecondReadingIn, SecondReadingOut

endpoints = Endpoints("quality")


@endpoints.post(
    r"/api/v1/reports/{id:\d+}/second-reading",
    summary="Second reading: confirm the report or record a discrepancy (it is then released)",
    body=SecondReadingIn,
    response=SecondReadingOut,
)
async def record(call: Call) -> SecondReading:
    body: SecondReadingIn = call.body
    verdict = Verdict(body.discrepancy, body.note, body.findings, body.impression)
    async with call.work() as work:
        return await second_reading.record(work, call.path_int("id"), verdict)


@endpoints.get(
    "/api/v1/second-readings",
    summary="Signed reports of the caller's kinds waiting for a second reader",
    response=list[SecondReadingOut],
)
async def queue(call: Call) -> list[SecondReading]:
    async with call.work() as work:
        return await second_reading.queue(work)


@endpoints.get(
    "/api/v1/statistics/quality",
    summary="Discrepancy rate per first reader over a period (aggregates only)",
    query=QualityQuery,
    response=QualityOut,
    aggregate=True,
)
async def quality(call: Call) -> dict[str, Any]:
    query: QualityQuery = call.query
    async with call.work() as work:
        until = query.until or work.now
        since = query.since or until - DEFAULT_PERIOD
        readers = await second_reading.discrepancy_rates(work, since, until)
        return {"since": since, "until": until, "readers": readers}
