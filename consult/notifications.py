"""Notifications: stored per user and pushed live through the event bus after commit.

Their titles and payloads can name a patient (a critical result, a referral), so reading them is
a read of patient data: the list and every live event delivered are audited with the patient as
a column, one record per patient (see :meth:`consult.center.Work.audit_patients`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select, update

from consult.center import Work
from consult.errors import NotFound
from consult.models import DiagnosticRequest, Notification, Referral, User
from consult.vocab import SPECIALIST_KINDS, RequestKind, Role


async def notify(
    work: Work,
    user_ids: set[int],
    kind: str,
    title: str,
    title_en: str,
    *,
    request_id: int | None = None,
    **payload: Any,
) -> None:
    """Store one notification per user and queue the live event."""
    user_ids = {u for u in user_ids if u}
    if not user_ids:
        return
    rows = [
        Notification(
            user_id=uid,
            kind=kind,
            title=title,
            title_en=title_en,
            request_id=request_id,
            payload=payload,
            created_at=work.now,
        )
        for uid in sorted(user_ids)
    ]
    work.session.add_all(rows)
    await work.session.flush()
    for row in rows:
        work.emit(
            kind,
            {row.user_id},
            notification_id=row.id,
            title=title,
            title_en=title_en,
            request_id=request_id,
            created_at=row.created_at.isoformat(),
            **payload,
        )


async def specialists_for(work: Work, kind: RequestKind) -> set[int]:
    roles = {role for role, kinds in SPECIALIST_KINDS.items() if kind in kinds}
    rows = await work.session.scalars(
        select(User.id).where(User.role.in_(roles), User.active.is_(True))
    )
    return set(rows)


async def clinic_users_for(work: Work, request: DiagnosticRequest) -> set[int]:
    """The requester and the doctors of the requesting institution."""
    rows = await work.session.scalars(
        select(User.id).where(
            User.institution_id == request.requesting_institution_id,
            User.active.is_(True),
            User.role.in_((Role.VILLAGE_DOCTOR, Role.TOWNSHIP_DOCTOR)),
        )
    )
    ids = set(rows)
    if request.requester_id:
        ids.add(request.requester_id)
    return ids


async def users_with_role(work: Work, *roles: Role) -> set[int]:
    rows = await work.session.scalars(
        select(User.id).where(User.role.in_(roles), User.active.is_(True))
    )
    return set(rows)


async def list_mine(
    work: Work, *, unread_only: bool = False, limit: int = 100
) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == work.principal.user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    rows = list(await work.session.scalars(query.order_by(Notification.id.desc()).limit(limit)))
    patients = await patients_in(work, [{"request_id": r.request_id, **r.payload} for r in rows])
    work.audit_patients("notification.list", patients)
    return rows


async def audit_delivery(work: Work, kind: str, payload: Mapping[str, Any]) -> None:
    """Audit a live event delivered to the caller, when it concerns patients (one record each;
    none for an event about no patient)."""
    notification = payload.get("notification_id")
    obj = ("notification", notification) if notification else None
    for patient_id in sorted(await patients_in(work, [payload])):
        work.audit("event.deliver", patient_id=patient_id, obj=obj, kind=kind)


async def patients_in(work: Work, payloads: Iterable[Mapping[str, Any]]) -> set[int]:
    """The patients that notification or event payloads concern: named directly (a critical
    alert), or through their request or referral."""
    patients: set[int] = set()
    request_ids: set[int] = set()
    referral_ids: set[int] = set()
    for payload in payloads:
        alert = payload.get("alert")
        for source in (payload, alert if isinstance(alert, Mapping) else {}):
            if isinstance(source.get("patient_id"), int):
                patients.add(source["patient_id"])
        if isinstance(payload.get("request_id"), int):
            request_ids.add(payload["request_id"])
        if isinstance(payload.get("referral_id"), int):
            referral_ids.add(payload["referral_id"])
    if request_ids:
        query = select(DiagnosticRequest.patient_id).where(DiagnosticRequest.id.in_(request_ids))
        patients.update(await work.session.scalars(query))
    if referral_ids:
        query = select(Referral.patient_id).where(Referral.id.in_(referral_ids))
        patients.update(await work.session.scalars(query))
    return patients


async def mark_read(work: Work, notification_id: int) -> None:
    result = await work.session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == work.principal.user_id)
        .values(read_at=work.now)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no notification {notification_id}")
