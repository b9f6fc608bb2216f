"""The imaging part of a patient's history: prior studies the caller may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from consult.access import request_clause
from consult.center import Work
from consult.models import DiagnosticRequest
from imaging.index import ImagingStudy

MAX_STUDIES = 50


async def study_history(
    work: Work, patient_id: int, current_request_id: int | None
) -> list[dict[str, Any]]:
    """Studies linked to the patient's visible requests, newest first."""
    rows = await work.session.scalars(
        select(ImagingStudy)
        .join(DiagnosticRequest, DiagnosticRequest.id == ImagingStudy.request_id)
        .where(ImagingStudy.patient_id == patient_id, request_clause(work.principal))
        .order_by(ImagingStudy.study_date.desc(), ImagingStudy.id.desc())
        .limit(MAX_STUDIES)
    )
    return [
        {
            "id": s.id, "request_id": s.request_id, "current": s.request_id == current_request_id,
            "study_date": s.study_date, "modalities": s.modalities.split("\\"),
            "description": s.description, "num_series": s.num_series,
            "num_instances": s.num_instances,
        }
        for s in rows
    ]  # fmt: skip
