"""The ECG part of a patient's history: prior recordings, each compared with the one before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from consult.access import request_clause
from consult.center import Work
from consult.models import DiagnosticRequest
from ecg.serial import compare
from ecg.store import EcgRecording

MAX_ECGS = 20


async def ecg_history(
    work: Work, patient_id: int, current_request_id: int | None
) -> list[dict[str, Any]]:
    """The patient's ECGs the caller may see, newest first; each carries its serial comparison
    with the next older one (``None`` for the oldest)."""
    rows = list(
        await work.session.scalars(
            select(EcgRecording)
            .join(DiagnosticRequest, DiagnosticRequest.id == EcgRecording.request_id)
            .where(EcgRecording.patient_id == patient_id, request_clause(work.principal))
            .order_by(EcgRecording.uploaded_at.desc(), EcgRecording.id.desc())
            .limit(MAX_ECGS + 1)
        )
    )
    items = []
    for i, row in enumerate(rows[:MAX_ECGS]):
        older = rows[i + 1] if i + 1 < len(rows) else None
        items.append(_item(row, older, current_request_id))
    return items


def _item(
    row: EcgRecording, older: EcgRecording | None, current_request_id: int | None
) -> dict[str, Any]:
    a = row.analysis or {}
    return {
        "id": row.id,
        "request_id": row.request_id,
        "current": row.request_id == current_request_id,
        "uploaded_at": row.uploaded_at.isoformat(),
        "critical": row.critical,
        "heart_rate_bpm": a.get("heart_rate_bpm"),
        "intervals": a.get("intervals"),
        "axes": a.get("axes"),
        "statements": [
            {k: s.get(k) for k in ("code", "en", "zh")}
            for s in a.get("statements") or []
            if isinstance(s, dict)
        ],
        "prior_id": older.id if older else None,
        "comparison": compare(older.analysis or {}, a).to_dict() if older else None,
    }
