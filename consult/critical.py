"""Critical results: one mechanism for every finding that cannot wait (a STEMI on an ECG, a
critical lab value).

An alert goes at once to the doctors of the clinic that sent the request and to the center's
duty desk (and to whoever the finding's center adds, e.g. the lab supervisors). It stays open
until one of them acknowledges it — seen in the application, or phoned through, naming the
person spoken to. An alert left open for ``ack_minutes`` escalates: first to the duty doctors of
the township above a village clinic, then, after as long again, to the duty desk once more.
Every step is audited and pushed live (``critical.alert``, ``critical.escalated``,
``critical.ack`` events).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, or_, select, update

from consult import notifications as notes
from consult.access import readable_request, request_clause
from consult.center import Work
from consult.critical_tables import CriticalAlert, CriticalRecipient
from consult.errors import Conflict, InvalidInput, NotFound
from consult.models import DiagnosticRequest, Institution, Patient, User
from consult.vocab import AckMethod, InstitutionLevel, Role

logger = logging.getLogger(__name__)

DEFAULT_ACK_MINUTES = 15
TOP_LEVEL = 2
"""0 raised, 1 township duty doctor, 2 the center's duty desk (the last step)."""


@dataclass(frozen=True)
class Finding:
    """One critical finding to alert on: what found it and what it says, in both languages."""

    source: str
    source_id: int
    code: str
    text: str
    text_zh: str


@dataclass(frozen=True)
class AlertView:
    """An alert as the people who act on it see it: finding, patient, clinic and its phone,
    and who acknowledged it, when and how."""

    id: int
    source: str
    source_id: int
    code: str
    request_id: int
    request_identifier: str
    patient_id: int
    patient_name: str
    patient_sex: str
    patient_birth_date: dt.date | None
    patient_phone: str
    clinic_id: int
    clinic_name: str
    clinic_name_en: str
    clinic_phone: str
    finding: str
    finding_zh: str
    raised_at: dt.datetime
    level: int
    escalated_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: int | None
    acknowledged_by_name: str
    method: str
    notified_person: str
    note: str

    def to_event(self) -> dict[str, Any]:
        """JSON-safe form for live events and stored notifications."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, dt.date):
                out[key] = value.isoformat()
        return out


# --- raising ------------------------------------------------------------------------------


async def raise_alerts(
    work: Work,
    request: DiagnosticRequest,
    findings: Sequence[Finding],
    *,
    also: Iterable[int] = (),
    also_reason: str = "supervisor",
) -> list[CriticalAlert]:
    """One alert per finding, sent to the clinic, the duty desk and ``also``; idempotent per
    finding source (a finding already alerted on is not alerted twice)."""
    fresh = [f for f in findings if not await _exists(work, f)]
    if not fresh:
        return []
    alerts = [
        CriticalAlert(
            source=f.source,
            source_id=f.source_id,
            code=f.code[:64],
            request_id=request.id,
            patient_id=request.patient_id,
            institution_id=request.requesting_institution_id,
            finding=f.text[:300],
            finding_zh=f.text_zh[:300],
            raised_at=work.now,
            level=0,
        )
        for f in fresh
    ]
    work.session.add_all(alerts)
    await work.session.flush()
    recipients = {u: "clinic" for u in await notes.clinic_users_for(work, request)}
    for uid in await notes.users_with_role(work, Role.DUTY_DESK):
        recipients.setdefault(uid, "duty_desk")
    for uid in also:
        recipients.setdefault(uid, also_reason)
    work.session.add_all(
        CriticalRecipient(alert_id=a.id, user_id=uid, reason=why, level=0, notified_at=work.now)
        for a in alerts
        for uid, why in sorted(recipients.items())
        if uid
    )
    patient = await work.session.get(Patient, request.patient_id)  # loaded: no round trip
    clinic = await work.session.get(Institution, request.requesting_institution_id)
    assert patient is not None
    assert clinic is not None
    views = [_view(a, request, clinic, {}, patient) for a in alerts]
    for view in views:
        await notes.notify(
            work,
            set(recipients),
            "critical.alert",
            f"危急值: {view.patient_name} {view.finding_zh} ({_clinic_zh(view)})",
            f"Critical result: {view.patient_name} {view.finding} ({_clinic_en(view)})",
            request_id=request.id,
            alert=view.to_event(),
            critical=True,
        )
        work.audit(
            "critical.raise",
            patient_id=view.patient_id,
            obj=("critical_alert", view.id),
            source=view.source,
            code=view.code,
            recipients=sorted(recipients),
        )
    return alerts


async def _exists(work: Work, finding: Finding) -> bool:
    found = await work.session.scalar(
        select(CriticalAlert.id).where(
            CriticalAlert.source == finding.source, CriticalAlert.source_id == finding.source_id
        )
    )
    return found is not None


async def _add_recipients(
    work: Work, alert: CriticalAlert, users: dict[int, str], *, level: int
) -> set[int]:
    """Record the people ``alert`` goes to (those not already on it); return the new ones."""
    known = set(
        await work.session.scalars(
            select(CriticalRecipient.user_id).where(CriticalRecipient.alert_id == alert.id)
        )
    )
    new = {u: r for u, r in users.items() if u and u not in known}
    work.session.add_all(
        CriticalRecipient(
            alert_id=alert.id, user_id=uid, reason=reason, level=level, notified_at=work.now
        )
        for uid, reason in sorted(new.items())
    )
    await work.session.flush()
    return set(new)


def _clinic_zh(view: AlertView) -> str:
    return f"{view.clinic_name} 电话 {view.clinic_phone or '—'}"


def _clinic_en(view: AlertView) -> str:
    return f"{view.clinic_name_en or view.clinic_name}, phone {view.clinic_phone or '—'}"


# --- acknowledging ------------------------------------------------------------------------


async def acknowledge(
    work: Work,
    alert_id: int,
    *,
    method: AckMethod,
    notified_person: str = "",
    note: str = "",
    action: str = "critical.ack",
) -> CriticalAlert:
    """Record who acknowledged the alert, when and how (in app, or phoned and to whom).

    Only the first acknowledgement counts: a later one (or one racing it) is a
    :class:`Conflict` naming who acknowledged first.
    """
    alert = await _actionable(work, alert_id, action)
    person = notified_person.strip()
    if method is AckMethod.PHONE and not person:
        raise InvalidInput(
            "a phoned critical result names the person spoken to", field="notified_person"
        )
    if alert.acknowledged_at is None:
        result = await work.session.execute(
            update(CriticalAlert)
            .where(CriticalAlert.id == alert.id, CriticalAlert.acknowledged_at.is_(None))
            .values(
                acknowledged_at=work.now,
                acknowledged_by=work.principal.user_id or None,
                method=method.value,
                notified_person=(person or work.principal.display_name)[:200],
                note=note.strip(),
            )
            .execution_options(synchronize_session=False)
        )
        won = bool(result.rowcount)  # type: ignore[attr-defined]
    else:
        won = False
    await work.session.refresh(alert)
    if not won:
        who = await work.session.get(User, alert.acknowledged_by) if alert.acknowledged_by else None
        raise Conflict(
            f"alert {alert_id} was already acknowledged by "
            f"{who.display_name if who else 'someone'} ({alert.method})",
            code="already_acknowledged",
        )
    work.audit(
        action,
        patient_id=alert.patient_id,
        obj=("critical_alert", alert.id),
        method=alert.method,
        notified_person=alert.notified_person,
    )
    (view,) = await view_alerts(work, [alert])
    audience = await recipients_of(work, alert.id)
    request = await work.session.get(DiagnosticRequest, alert.request_id)
    if request is not None:
        audience |= await notes.specialists_for(work, request.kind)
    work.emit("critical.ack", audience, alert=view.to_event(), request_id=alert.request_id)
    return alert


async def _actionable(work: Work, alert_id: int, action: str) -> CriticalAlert:
    """An alert the caller was sent or whose request the caller may read; else not found."""
    alert = await work.session.get(CriticalAlert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    if await _is_recipient(work, alert.id):
        return alert
    try:
        await readable_request(work, alert.request_id, action)
    except NotFound:
        raise NotFound(f"no alert {alert_id}") from None
    return alert


async def _is_recipient(work: Work, alert_id: int) -> bool:
    found = await work.session.scalar(
        select(CriticalRecipient.id).where(
            CriticalRecipient.alert_id == alert_id,
            CriticalRecipient.user_id == work.principal.user_id,
        )
    )
    return found is not None


async def recipients_of(work: Work, alert_id: int) -> set[int]:
    rows = await work.session.scalars(
        select(CriticalRecipient.user_id).where(CriticalRecipient.alert_id == alert_id)
    )
    return set(rows)


# --- listing ------------------------------------------------------------------------------


async def list_alerts(
    work: Work,
    *,
    open_only: bool = False,
    request_id: int | None = None,
    source: str | None = None,
    mine_only: bool = False,
    limit: int = 200,
) -> list[CriticalAlert]:
    """Alerts sent to the caller (``mine_only``), or also those on requests the caller may see;
    newest first; audited."""
    query = select(CriticalAlert).order_by(CriticalAlert.id.desc()).limit(limit)
    if open_only:
        query = query.where(CriticalAlert.acknowledged_at.is_(None))
    if source is not None:
        query = query.where(CriticalAlert.source == source)
    if request_id is not None:
        query = query.where(CriticalAlert.request_id == request_id)
    mine = select(CriticalRecipient.alert_id).where(
        CriticalRecipient.user_id == work.principal.user_id
    )
    if mine_only:
        query = query.where(CriticalAlert.id.in_(mine))
    else:
        readable = select(DiagnosticRequest.id).where(request_clause(work.principal))
        query = query.where(or_(CriticalAlert.id.in_(mine), CriticalAlert.request_id.in_(readable)))
    rows = list(await work.session.scalars(query))
    work.audit_patients("critical.list", (a.patient_id for a in rows))
    return rows


async def view_alerts(work: Work, alerts: Sequence[CriticalAlert]) -> list[AlertView]:
    """The alerts with their patient, clinic and acknowledger, loaded in three queries."""
    if not alerts:
        return []
    requests = {
        r.id: r
        for r in await work.session.scalars(
            select(DiagnosticRequest).where(
                DiagnosticRequest.id.in_({a.request_id for a in alerts})
            )
        )
    }
    clinics = {
        i.id: i
        for i in await work.session.scalars(
            select(Institution).where(Institution.id.in_({a.institution_id for a in alerts}))
        )
    }
    ackers = {a.acknowledged_by for a in alerts if a.acknowledged_by}
    names: dict[int, str] = {}
    if ackers:
        rows = await work.session.execute(
            select(User.id, User.display_name).where(User.id.in_(ackers))
        )
        names = {uid: name for uid, name in rows}
    return [_view(a, requests[a.request_id], clinics[a.institution_id], names) for a in alerts]


def _view(
    alert: CriticalAlert,
    request: DiagnosticRequest,
    clinic: Institution,
    names: dict[int, str],
    patient: Patient | None = None,
) -> AlertView:
    patient = patient or request.patient
    return AlertView(
        id=alert.id,
        source=alert.source,
        source_id=alert.source_id,
        code=alert.code,
        request_id=request.id,
        request_identifier=request.identifier,
        patient_id=patient.id,
        patient_name=patient.name,
        patient_sex=patient.sex.value,
        patient_birth_date=patient.birth_date,
        patient_phone=patient.phone,
        clinic_id=clinic.id,
        clinic_name=clinic.name,
        clinic_name_en=clinic.name_en,
        clinic_phone=clinic.phone,
        finding=alert.finding,
        finding_zh=alert.finding_zh,
        raised_at=alert.raised_at,
        level=alert.level,
        escalated_at=alert.escalated_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_by_name=names.get(alert.acknowledged_by or 0, ""),
        method=alert.method,
        notified_person=alert.notified_person,
        note=alert.note,
    )


# --- escalating ---------------------------------------------------------------------------


async def escalate_overdue(work: Work, ack_minutes: int = DEFAULT_ACK_MINUTES) -> int:
    """Escalate, one level, every open alert left ``ack_minutes`` at its level; return how many.

    Level 1 is the township's duty doctors (the township doctors of the township above a village
    clinic); level 2 the center's duty desk. An alert with no township above it goes straight to
    level 2. Nothing escalates past level 2, and nothing once acknowledged.
    """
    cutoff = work.now - dt.timedelta(minutes=ack_minutes)
    due = list(
        await work.session.scalars(
            select(CriticalAlert)
            .where(
                CriticalAlert.acknowledged_at.is_(None),
                CriticalAlert.level < TOP_LEVEL,
                func.coalesce(CriticalAlert.escalated_at, CriticalAlert.raised_at) <= cutoff,
            )
            .order_by(CriticalAlert.id)
        )
    )
    count = 0
    for alert in due:
        if await _escalate(work, alert, ack_minutes):
            count += 1
    if count:
        logger.warning("%d critical alerts escalated", count)
    return count


async def _escalate(work: Work, alert: CriticalAlert, ack_minutes: int) -> bool:
    level, targets = await _next_step(work, alert)
    result = await work.session.execute(
        update(CriticalAlert)
        .where(
            CriticalAlert.id == alert.id,
            CriticalAlert.level == alert.level,
            CriticalAlert.acknowledged_at.is_(None),
        )
        .values(level=level, escalated_at=work.now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False  # acknowledged or escalated by someone else meanwhile
    await work.session.refresh(alert)
    reason = "township" if level == 1 else "duty_desk"
    await _add_recipients(work, alert, dict.fromkeys(targets, reason), level=level)
    (view,) = await view_alerts(work, [alert])
    step_zh = "乡镇值班医生" if level == 1 else "中心值班台"
    step_en = "the township duty doctor" if level == 1 else "the center's duty desk"
    await notes.notify(
        work,
        await recipients_of(work, alert.id),
        "critical.escalated",
        f"危急值 {ack_minutes} 分钟未确认, 已上报{step_zh}: {view.patient_name} {view.finding_zh} "
        f"({_clinic_zh(view)})",
        f"Critical result not acknowledged in {ack_minutes} min, escalated to {step_en}: "
        f"{view.patient_name} {view.finding} ({_clinic_en(view)})",
        request_id=alert.request_id,
        alert=view.to_event(),
        critical=True,
    )
    work.audit(
        "critical.escalate",
        patient_id=alert.patient_id,
        obj=("critical_alert", alert.id),
        level=level,
        to=sorted(targets),
    )
    return True


async def _next_step(work: Work, alert: CriticalAlert) -> tuple[int, set[int]]:
    """The next level and who it goes to."""
    if alert.level == 0:
        township = await township_duty_doctors(work, alert.institution_id)
        if township:
            return 1, township
    return TOP_LEVEL, await notes.users_with_role(work, Role.DUTY_DESK)


async def township_duty_doctors(work: Work, clinic_id: int) -> set[int]:
    """The duty doctors of the township above a village clinic (its active township doctors)."""
    clinic = await work.session.get(Institution, clinic_id)
    if clinic is None or clinic.level is not InstitutionLevel.VILLAGE or clinic.parent_id is None:
        return set()
    rows = await work.session.scalars(
        select(User.id).where(
            User.institution_id == clinic.parent_id,
            User.role == Role.TOWNSHIP_DOCTOR,
            User.active.is_(True),
        )
    )
    return set(rows)
