"""The audit log, for auditors: search and chain verification."""

from __future__ import annotations

from consult import audit
from consult.center import Work
from consult.errors import Forbidden
from consult.models import AuditRecord
from consult.vocab import Role
from web import keys
from web.api import Call, Endpoints
from web.schemas import AnchorOut, AuditOut, AuditQuery, ChainOut

endpoints = Endpoints("audit")


def require_auditor(work: Work) -> None:
    if work.principal.role is not Role.AUDITOR:
        work.deny("audit.read")
        raise Forbidden("auditors only")


@endpoints.get(
    "/api/v1/audit", summary="Search the audit log", query=AuditQuery, response=list[AuditOut]
)
async def search(call: Call) -> list[AuditRecord]:
    await call.center.audit_log.drain()  # the auditor sees every committed record sealed
    async with call.work() as work:
        require_auditor(work)
        rows = await audit.search(work.session, **call.query.model_dump())
        work.audit("audit.search", count=len(rows))
        return rows


@endpoints.get("/api/v1/audit/verify", summary="Verify the audit hash chain", response=ChainOut)
async def verify(call: Call) -> ChainOut:
    async with call.work() as work:
        require_auditor(work)
    await call.center.audit_log.drain()
    against = await call.request.app[keys.ANCHORS].check()  # the anchors first: the chain grows
    report = await call.center.audit_log.verify()
    anchor = against.anchor
    return ChainOut(
        ok=report.ok and against.ok,
        checked=report.checked,
        unsealed=report.unsealed,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
        anchor=AnchorOut(seq=anchor.seq, hash=anchor.hash, at=anchor.at, node=anchor.node)
        if anchor
        else None,
        anchor_problems=list(against.problems),
        anchor_warning=against.warning,
        anchor_chain_code=against.chain_code,
        anchor_bad_files=len(against.bad_files),
        chain_head_seq=against.head[0] if against.head else 0,
    )
