"""The clinics' HIS links (administrators): each clinic's MLLP endpoint, the outbox of reports
going to them, and sending again a message the outbox gave up on."""

from __future__ import annotations

from consult import institutions
from lab import his_admin
from lab.his_admin import OutboxFilter, OutboxState
from lab.tables import HisOutbound
from web.api import Call, Endpoints
from web.routes.admin import require_admin
from web.schemas_lab import HisEndpointIn, HisEndpointOut, HisOutboxOut, HisOutboxQuery

endpoints = Endpoints("his")
ENDPOINT = r"/api/v1/institutions/{id:\d+}/his"


async def _link(call: Call, *, change: HisEndpointIn | None = None) -> his_admin.Link:
    async with call.work() as work:
        require_admin(work)
        institution_id = call.path_int("id")
        if change is None:
            await institutions.get_institution(work, institution_id)
        else:
            await institutions.set_his_endpoint(
                work, institution_id, host=change.host, port=change.port
            )
            await work.session.flush()
        [link] = await his_admin.links(work, institution_id)
        return link


@endpoints.get(
    "/api/v1/his/links",
    summary="Every clinic's HIS endpoint and its outbox",
    response=list[HisEndpointOut],
)
async def list_links(call: Call) -> list[his_admin.Link]:
    async with call.work() as work:
        require_admin(work)
        return await his_admin.links(work)


@endpoints.get(ENDPOINT, summary="A clinic's HIS endpoint and its outbox", response=HisEndpointOut)
async def get_endpoint(call: Call) -> his_admin.Link:
    return await _link(call)


@endpoints.put(
    ENDPOINT,
    summary="Set a clinic's HIS endpoint (empty host and port 0: send nothing)",
    body=HisEndpointIn,
    response=HisEndpointOut,
)
async def put_endpoint(call: Call) -> his_admin.Link:
    return await _link(call, change=call.body)


@endpoints.get(
    "/api/v1/his/outbox",
    summary="Messages to the clinics' HIS, newest first (without their text)",
    query=HisOutboxQuery,
    response=list[HisOutboxOut],
)
async def list_outbox(call: Call) -> list[HisOutbound]:
    q = call.query
    wanted = OutboxFilter(
        institution_id=q.institution_id,
        state=OutboxState(q.state) if q.state else None,
        limit=q.limit,
    )
    async with call.work() as work:
        require_admin(work)
        return await his_admin.rows(work, wanted)


@endpoints.post(
    r"/api/v1/his/outbox/{id:\d+}/retry",
    summary="Send a stopped message again (409 if it is not stopped or a later version went)",
    response=HisOutboxOut,
)
async def retry(call: Call) -> HisOutbound:
    async with call.work() as work:
        require_admin(work)
        return await his_admin.retry(work, call.path_int("id"))
