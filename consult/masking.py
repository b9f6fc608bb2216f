"""Consent masking: what of a request a caller sees without the patient's consent.

County staff see a request of their kind on the worklist even before consent (to know there is
work), but not who the patient is nor the clinical text; the patient's own clinic always sees
everything. Every door that lists requests (API, pages, exports) asks this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consult.access import granted_patients
from consult.center import Work
from consult.models import DiagnosticRequest, Patient


@dataclass(frozen=True)
class RequestView:
    """The patient-identifying parts of a request, as the caller may see them."""

    request: DiagnosticRequest
    shown: bool
    patient: Patient | None
    clinical_question: str
    details: dict[str, Any]


def view(request: DiagnosticRequest, *, shown: bool) -> RequestView:
    if shown:
        return RequestView(
            request, True, request.patient, request.clinical_question, request.details
        )
    return RequestView(request, False, None, "", {})


async def views(work: Work, rows: list[DiagnosticRequest]) -> list[RequestView]:
    """``rows`` masked where the caller has no consent (or override) for the patient."""
    granted = await granted_patients(work, {r.patient_id for r in rows})
    return [view(r, shown=r.patient_id in granted) for r in rows]
