"""Critical values: an alert to the ordering clinic and the lab supervisors that someone must
acknowledge (who, when, how, to whom), escalated when nobody does in time."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from consult import notifications as notes
from consult import requests as requests_
from consult.access import readable_request, request_clause
from consult.center import Work
from consult.errors import Conflict, InvalidInput, NotFound
from consult.models import DiagnosticRequest
from consult.vocab import Role
from lab.tables import CriticalAlert, LabResult
from lab.vocab import AckMethod

logger = logging.getLogger(__name__)

DEFAULT_ACK_MINUTES = 15


def summary_of(result: LabResult) -> str:
    return f"{result.name or result.test_code} {result.value} {result.unit} ({result.flag})".strip()


async def raise_alerts(
    work: Work, request: DiagnosticRequest, results: list[LabResult]
) -> list[CriticalAlert]:
    """One alert per critical result; the clinic and the supervisors hear of it at once."""
    if not results:
        return []
    alerts = [
        CriticalAlert(
            result_id=r.id,
            request_id=request.id,
            patient_id=request.patient_id,
            summary=summary_of(r)[:300],
            raised_at=work.now,
        )
        for r in results
    ]
    work.session.add_all(alerts)
    await work.session.flush()
    text = "; ".join(a.summary for a in alerts)
    if not request.critical:
        await requests_.mark_critical(work, request, text[:500])
    users = await notes.clinic_users_for(work, request)
    users |= await notes.users_with_role(work, Role.LAB_SUPERVISOR)
    await notes.notify(
        work,
        users,
        "lab.critical",
        f"检验危急值: {request.identifier} {text}",
        f"Critical lab value: {request.identifier} {text}",
        request_id=request.id,
        alert_ids=[a.id for a in alerts],
        critical=True,
    )
    work.audit(
        "lab.critical.raise",
        patient_id=request.patient_id,
        obj=("request", request.id),
        alerts=[a.id for a in alerts],
    )
    return alerts


async def acknowledge(
    work: Work, alert_id: int, *, method: AckMethod, notified_person: str, note: str = ""
) -> CriticalAlert:
    """Record who took the critical value, when, how (phone, in-app) and who was told."""
    alert = await work.session.get(CriticalAlert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    try:
        await readable_request(work, alert.request_id, "lab.critical.ack")
    except NotFound:
        raise NotFound(f"no alert {alert_id}") from None
    if alert.acknowledged_at is not None:
        raise Conflict(f"alert {alert_id} was already acknowledged")
    if method is AckMethod.PHONE and not notified_person.strip():
        raise InvalidInput(
            "a phoned critical value names the person who took it", field="notified_person"
        )
    alert.acknowledged_at = work.now
    alert.acknowledged_by = work.principal.user_id
    alert.method = method.value
    alert.notified_person = notified_person.strip() or work.principal.display_name
    alert.note = note.strip()
    work.audit(
        "lab.critical.ack",
        patient_id=alert.patient_id,
        obj=("lab_alert", alert.id),
        method=method.value,
        notified_person=alert.notified_person,
    )
    return alert


async def list_for(work: Work, *, open_only: bool, request_id: int | None) -> list[CriticalAlert]:
    """Alerts of the requests the caller may see."""
    query = select(CriticalAlert).order_by(CriticalAlert.id.desc()).limit(200)
    if open_only:
        query = query.where(CriticalAlert.acknowledged_at.is_(None))
    if request_id is not None:
        await readable_request(work, request_id, "lab.critical.list")
        query = query.where(CriticalAlert.request_id == request_id)
    else:
        query = query.join(
            DiagnosticRequest, DiagnosticRequest.id == CriticalAlert.request_id
        ).where(request_clause(work.principal))
    rows = list(await work.session.scalars(query))
    work.audit("lab.critical.list", patient_ids=sorted({a.patient_id for a in rows}))
    return rows


async def escalate_overdue(work: Work, ack_minutes: int = DEFAULT_ACK_MINUTES) -> int:
    """Escalate, once, every alert left unacknowledged for ``ack_minutes``; return how many."""
    cutoff = work.now - dt.timedelta(minutes=ack_minutes)
    rows = list(
        await work.session.scalars(
            select(CriticalAlert).where(
                CriticalAlert.acknowledged_at.is_(None),
                CriticalAlert.escalated_at.is_(None),
                CriticalAlert.raised_at <= cutoff,
            )
        )
    )
    if not rows:
        return 0
    requests = {
        r.id: r
        for r in await work.session.scalars(
            select(DiagnosticRequest).where(DiagnosticRequest.id.in_({a.request_id for a in rows}))
        )
    }
    supervisors = await notes.users_with_role(work, Role.LAB_SUPERVISOR, Role.ADMIN)
    for alert in rows:
        alert.escalated_at = work.now
        request = requests[alert.request_id]
        users = supervisors | await notes.clinic_users_for(work, request)
        await notes.notify(
            work,
            users,
            "lab.critical.escalated",
            f"危急值 {ack_minutes} 分钟未确认: {request.identifier} {alert.summary}",
            f"Critical value not acknowledged in {ack_minutes} min: "
            f"{request.identifier} {alert.summary}",
            request_id=request.id,
            alert_id=alert.id,
            critical=True,
        )
        work.audit(
            "lab.critical.escalate", patient_id=alert.patient_id, obj=("lab_alert", alert.id)
        )
    logger.warning("%d critical lab alerts escalated", len(rows))
    return len(rows)
