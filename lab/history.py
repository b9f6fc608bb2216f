"""The lab part of a patient's history: released values per test code over time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from consult.access import request_clause
from consult.center import Work
from consult.models import DiagnosticRequest
from lab.tables import LabOrder, LabResult
from lab.vocab import ResultStatus

MAX_VALUES = 500


async def lab_trends(
    work: Work, patient_id: int, current_request_id: int | None
) -> list[dict[str, Any]]:
    """One trend per test code (oldest value first), from orders the caller may see."""
    rows = await work.session.scalars(
        select(LabResult)
        .join(LabOrder, LabOrder.id == LabResult.order_id)
        .join(DiagnosticRequest, DiagnosticRequest.id == LabOrder.request_id)
        .where(
            LabResult.patient_id == patient_id,
            LabResult.status.in_((ResultStatus.FINAL, ResultStatus.CORRECTED)),
            request_clause(work.principal),
        )
        .order_by(LabResult.observed_at.desc(), LabResult.id.desc())
        .limit(MAX_VALUES)
    )
    trends: dict[str, dict[str, Any]] = {}
    for r in reversed(list(rows)):
        trend = trends.setdefault(
            r.test_code, {"code": r.test_code, "name": r.name, "unit": r.unit, "values": []}
        )
        trend["values"].append(
            {
                "observed_at": r.observed_at.isoformat(), "value": r.value, "numeric": r.numeric,
                "flag": r.flag, "range": r.range_text, "unit": r.unit,
            }
        )  # fmt: skip
    return sorted(trends.values(), key=lambda t: t["code"])
