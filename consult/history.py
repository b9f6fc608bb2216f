"""A patient's history for a reading page, gathered in the caller's scope (audited as a read).

`consult` knows requests and reports; the other packages' parts of the history (prior ECGs,
studies, lab trends) come in as `Section`s, so this module imports none of them (the
dependency rule); `web` binds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import select

from consult.access import readable_patient, request_clause
from consult.center import Work
from consult.models import DiagnosticRequest, Report
from consult.vocab import ReportStatus

MAX_ITEMS = 50


class Section(Protocol):
    """One part of the history: a list of JSON-safe items for a patient, newest first."""

    async def __call__(
        self, work: Work, patient_id: int, current_request_id: int | None
    ) -> list[dict[str, Any]]: ...


async def patient_history(
    work: Work,
    patient_id: int,
    sections: Mapping[str, Section],
    *,
    current_request_id: int | None = None,
) -> dict[str, Any]:
    """The patient (checked and audited as ``patient.history``), prior requests with their
    signed reports, and each section's items."""
    patient = await readable_patient(work, patient_id, "patient.history")
    history: dict[str, Any] = {
        "patient": {"id": patient.id, "name": patient.name, "sex": str(patient.sex)},
        "requests": await prior_requests(work, patient_id, current_request_id),
    }
    for name, section in sections.items():
        history[name] = await section(work, patient_id, current_request_id)
    return history


async def prior_requests(
    work: Work, patient_id: int, current_request_id: int | None
) -> list[dict[str, Any]]:
    """The patient's requests the caller may see (not the current one), with signed reports."""
    query = (
        select(DiagnosticRequest)
        .where(DiagnosticRequest.patient_id == patient_id, request_clause(work.principal))
        .order_by(DiagnosticRequest.created_at.desc(), DiagnosticRequest.id.desc())
        .limit(MAX_ITEMS)
    )
    if current_request_id is not None:
        query = query.where(DiagnosticRequest.id != current_request_id)
    requests = list(await work.session.scalars(query))
    reports = await _signed_reports(work, [r.id for r in requests])
    return [
        {
            "id": r.id, "identifier": r.identifier, "kind": str(r.kind), "status": str(r.status),
            "created_at": r.created_at.isoformat(), "critical": r.critical,
            "clinical_question": r.clinical_question,
            "reports": reports.get(r.id, []),
        }
        for r in requests
    ]  # fmt: skip


async def _signed_reports(work: Work, request_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    if not request_ids:
        return {}
    rows = await work.session.scalars(
        select(Report)
        .where(
            Report.request_id.in_(request_ids),
            Report.status.in_((ReportStatus.FINAL, ReportStatus.AMENDED)),
        )
        .order_by(Report.version.desc())
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for rep in rows:
        out.setdefault(rep.request_id, []).append(
            {
                "id": rep.id, "version": rep.version, "status": str(rep.status),
                "impression": rep.impression, "findings": rep.findings,
                "signed_at": rep.signed_at.isoformat() if rep.signed_at else None,
            }
        )  # fmt: skip
    return out
