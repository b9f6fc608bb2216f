"""Critical alerts (every source: ECG, lab): the caller's open alerts, a request's alerts with
who acknowledged them, and the acknowledgement."""

from __future__ import annotations

from consult import critical
from consult.critical import AlertView
from web.api import Call, Endpoints
from web.schemas_critical import AlertAckIn, AlertQuery, CriticalAlertOut

endpoints = Endpoints("critical")


@endpoints.get(
    "/api/v1/alerts",
    summary="Critical alerts sent to the caller; with request_id: that request's alerts (if the "
    "caller may see it), with who acknowledged them",
    query=AlertQuery,
    response=list[CriticalAlertOut],
)
async def list_alerts(call: Call) -> list[AlertView]:
    q: AlertQuery = call.query
    async with call.work() as work:
        rows = await critical.list_alerts(
            work,
            open_only=q.open,
            request_id=q.request_id,
            source=q.source,
            mine_only=q.request_id is None,
        )
        return await critical.view_alerts(work, rows)


@endpoints.post(
    r"/api/v1/alerts/{id:\d+}/ack",
    summary="Acknowledge a critical alert: seen in the app, or phoned (naming the person)",
    body=AlertAckIn,
    response=CriticalAlertOut,
)
async def acknowledge(call: Call) -> AlertView:
    body: AlertAckIn = call.body
    async with call.work() as work:
        alert = await critical.acknowledge(
            work,
            call.path_int("id"),
            method=body.method,
            notified_person=body.notified_person,
            note=body.note,
        )
        (view,) = await critical.view_alerts(work, [alert])
        return view
