"""The audit log, for auditors: search and chain verification."""

from __future__ import annotations

from consult import audit
from consult.center import Work
from consult.errors import Forbidden
from consult.models import AuditRecord
from consult.vocab import Role
from web.api import Call, Endpoints
from web.schemas import AuditOut, AuditQuery, ChainOut

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
    report = await call.center.audit_log.verify()
    return ChainOut(
        ok=report.ok,
        checked=report.checked,
        unsealed=report.unsealed,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
    )
