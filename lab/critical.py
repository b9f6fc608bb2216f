"""Critical lab values, as alerts of the one critical-result mechanism (:mod:`consult.critical`):
the ordering clinic, the duty desk and the lab supervisors hear of them at once; someone must
acknowledge (who, when, how, to whom); left unacknowledged they escalate.

The lab API keeps its own shape (``/api/v1/lab/alerts``: ``result_id``, ``summary``) over the
shared alerts of source ``lab``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consult import critical
from consult import notifications as notes
from consult import requests as requests_
from consult.center import Work
from consult.critical_tables import CriticalAlert
from consult.errors import NotFound
from consult.models import DiagnosticRequest
from consult.vocab import Role
from lab.tables import LabResult
from lab.vocab import AckMethod

SOURCE = "lab"
DEFAULT_ACK_MINUTES = critical.DEFAULT_ACK_MINUTES


@dataclass(frozen=True)
class LabAlert:
    """A critical-value alert as the lab API shows it."""

    id: int
    result_id: int
    request_id: int
    patient_id: int
    summary: str
    raised_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: int | None
    method: str
    notified_person: str
    note: str
    escalated_at: dt.datetime | None

    @classmethod
    def of(cls, alert: CriticalAlert) -> LabAlert:
        return cls(
            id=alert.id,
            result_id=alert.source_id,
            request_id=alert.request_id,
            patient_id=alert.patient_id,
            summary=alert.finding,
            raised_at=alert.raised_at,
            acknowledged_at=alert.acknowledged_at,
            acknowledged_by=alert.acknowledged_by,
            method=alert.method,
            notified_person=alert.notified_person,
            note=alert.note,
            escalated_at=alert.escalated_at,
        )


def summary_of(result: LabResult) -> str:
    return f"{result.name or result.test_code} {result.value} {result.unit} ({result.flag})".strip()


def _finding(result: LabResult) -> critical.Finding:
    text = summary_of(result)
    flag_zh = {"HH": "危急高值", "LL": "危急低值"}.get(result.flag, result.flag)
    text_zh = f"{result.name or result.test_code} {result.value} {result.unit} ({flag_zh})"
    return critical.Finding(SOURCE, result.id, result.test_code, text, text_zh.strip())


async def raise_alerts(
    work: Work, request: DiagnosticRequest, results: list[LabResult]
) -> list[CriticalAlert]:
    """One alert per critical result, to the clinic, the duty desk and the lab supervisors."""
    if not results:
        return []
    findings = [_finding(r) for r in results]
    if not request.critical:
        await requests_.mark_critical(
            work,
            request,
            "; ".join(f.text for f in findings)[:500],
            "; ".join(f.text_zh for f in findings)[:500],
        )
    supervisors = await notes.users_with_role(work, Role.LAB_SUPERVISOR)
    return await critical.raise_alerts(work, request, findings, also=supervisors)


async def acknowledge(
    work: Work, alert_id: int, *, method: AckMethod, notified_person: str, note: str = ""
) -> LabAlert:
    """Record who took the critical value, when, how (phone, in-app) and who was told."""
    alert = await work.session.get(CriticalAlert, alert_id)
    if alert is None or alert.source != SOURCE:
        raise NotFound(f"no alert {alert_id}")
    done = await critical.acknowledge(
        work, alert_id, method=method, notified_person=notified_person, note=note
    )
    return LabAlert.of(done)


async def list_for(work: Work, *, open_only: bool, request_id: int | None) -> list[LabAlert]:
    """Critical-value alerts the caller was sent or whose requests the caller may see."""
    rows = await critical.list_alerts(
        work, open_only=open_only, request_id=request_id, source=SOURCE
    )
    return [LabAlert.of(a) for a in rows]


async def escalate_overdue(work: Work, ack_minutes: int = DEFAULT_ACK_MINUTES) -> int:
    """Escalate the overdue alerts (all sources: one mechanism); return how many."""
    return await critical.escalate_overdue(work, ack_minutes)
