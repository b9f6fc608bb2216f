"""ECGs held for reconciliation: an upload whose patient or request did not agree with the
request it named (see :mod:`consult.identity`) is kept, unfiled, until an ECG specialist (or an
administrator) assigns it to the right patient of the sending clinic.

The file is kept in the ECG content store; the row says who sent it, what it claimed and why it
waits. The sending clinic sees its own held uploads; it does not assign them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, Integer, String, Text, false, select, true, update
from sqlalchemy.orm import Mapped, mapped_column

from consult.center import Work
from consult.db import Base, utcnow
from consult.errors import Conflict, Forbidden, NotFound
from consult.identity import Identity, Reason, Verdict
from consult.vocab import Role


class EcgReconciliation(Base):
    """An ECG upload waiting to be assigned to a patient."""

    __tablename__ = "ecg_reconciliation"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32), default="upload")
    csv_profile: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    accession: Mapped[str] = mapped_column(String(32), default="")
    claimed: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """What the upload said of its patient (patient IDs, name, birth date, sex, chosen patient)."""
    priority: Mapped[str] = mapped_column(String(16), default="routine")
    clinical_question: Mapped[str] = mapped_column(Text, default="")
    reason_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(300), default="")
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"))
    ecg_id: Mapped[int | None] = mapped_column(ForeignKey("ecg_recording.id"))


@dataclass(frozen=True)
class HeldItem:
    """A held upload as the API shows it."""

    id: int
    filename: str
    size: int
    source: str
    institution_id: int
    received_at: dt.datetime
    accession: str
    claimed: dict[str, Any]
    reason_code: str
    reason_zh: str
    reason_en: str
    detail: str
    resolved_at: dt.datetime | None = None
    patient_id: int | None = None
    ecg_id: int | None = None


def item_of(row: EcgReconciliation) -> HeldItem:
    code = Reason(row.reason_code)
    return HeldItem(
        id=row.id,
        filename=row.filename,
        size=row.size,
        source=row.source,
        institution_id=row.institution_id,
        received_at=row.received_at,
        accession=row.accession,
        claimed=dict(row.claimed),
        reason_code=code.value,
        reason_zh=code.zh,
        reason_en=code.en,
        detail=row.reason,
        resolved_at=row.resolved_at,
        patient_id=row.patient_id,
        ecg_id=row.ecg_id,
    )


def claimed_of(identity: Identity) -> dict[str, Any]:
    return {
        "patient_ids": list(identity.patient_ids),
        "name": identity.name,
        "birth_date": identity.birth_date.isoformat() if identity.birth_date else None,
        "sex": identity.sex,
        "patient_id": identity.patient_pk,
    }


def may_reconcile(work: Work) -> None:
    """ECG specialists and administrators assign held ECGs; audited when refused."""
    principal = work.principal
    if not (principal.system or principal.has(Role.ADMIN, Role.ECG_SPECIALIST)):
        work.deny("ecg.reconcile")
        raise Forbidden("held ECGs are assigned by ECG specialists or an administrator")


def _scope(work: Work) -> ColumnElement[bool]:
    principal = work.principal
    if principal.is_clinic:
        return EcgReconciliation.institution_id.in_(principal.clinic_scope)
    if principal.system or principal.has(Role.ADMIN, Role.ECG_SPECIALIST):
        return true()
    return false()


async def hold(
    work: Work,
    verdict: Verdict,
    identity: Identity,
    *,
    sha256: str,
    filename: str,
    size: int,
    source: str,
    csv_profile: dict[str, Any] | None,
    priority: str,
    clinical_question: str,
) -> EcgReconciliation:
    """Keep an upload that disagrees with its request, with the reason (audited)."""
    assert verdict.reason is not None
    row = EcgReconciliation(
        sha256=sha256,
        filename=filename[:255],
        size=size,
        source=source[:32],
        csv_profile=csv_profile,
        institution_id=work.principal.institution_id,
        uploaded_by=work.principal.user_id or None,
        received_at=work.now,
        accession=identity.accession[:32],
        claimed=claimed_of(identity),
        priority=priority,
        clinical_question=clinical_question,
        reason_code=verdict.reason.value,
        reason=verdict.text()[:300],
    )
    work.session.add(row)
    await work.session.flush()
    work.audit(
        "ecg.reconcile.hold",
        obj=("ecg_reconciliation", row.id),
        reason=verdict.reason.value,
        accession=identity.accession or None,
    )
    return row


async def listing(work: Work, *, include_resolved: bool = False) -> list[HeldItem]:
    if not work.principal.is_clinic:
        may_reconcile(work)
    query = select(EcgReconciliation).where(_scope(work)).order_by(EcgReconciliation.id)
    if not include_resolved:
        query = query.where(EcgReconciliation.resolved_at.is_(None))
    rows = list(await work.session.scalars(query))
    work.audit("ecg.reconciliation.list", count=len(rows))
    return [item_of(r) for r in rows]


async def claim(work: Work, item_id: int, patient_id: int) -> EcgReconciliation:
    """Take a waiting item for assignment to ``patient_id`` (one reconciler wins)."""
    may_reconcile(work)
    row = await work.session.get(EcgReconciliation, item_id)
    if row is None:
        raise NotFound(f"no held ECG {item_id}")
    taken = await work.session.execute(
        update(EcgReconciliation)
        .where(EcgReconciliation.id == item_id, EcgReconciliation.resolved_at.is_(None))
        .values(resolved_at=work.now, resolved_by=work.principal.user_id or None)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this ECG was already assigned")
    await work.session.refresh(row)
    return row


async def release(work: Work, item_id: int) -> None:
    """Give a claimed item back (the assignment failed)."""
    await work.session.execute(
        update(EcgReconciliation)
        .where(EcgReconciliation.id == item_id)
        .values(resolved_at=None, resolved_by=None)
    )


async def filed(work: Work, item_id: int, patient_id: int, ecg_id: int) -> HeldItem:
    row = await work.session.get(EcgReconciliation, item_id)
    if row is None:
        raise NotFound(f"no held ECG {item_id}")
    row.patient_id, row.ecg_id = patient_id, ecg_id
    work.audit(
        "ecg.reconcile",
        patient_id=patient_id,
        obj=("ecg", ecg_id),
        item=item_id,
        reason=row.reason_code,
    )
    return item_of(row)
