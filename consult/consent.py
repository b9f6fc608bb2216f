"""Consent: the patient's authorisation for the county center, and emergency overrides."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from consult.access import known_patient
from consult.center import Work
from consult.errors import Conflict, Forbidden, InvalidInput, NotFound
from consult.models import Consent, EmergencyOverride
from consult.vocab import ConsentScope

MIN_REASON = 10


async def record(
    work: Work,
    patient_id: int,
    *,
    scope: ConsentScope,
    expires_at: dt.datetime | None = None,
    note: str = "",
) -> Consent:
    """The patient's clinic records a consent the patient gave."""
    patient = await known_patient(work, patient_id, "consent.record")
    if not work.principal.is_clinic:
        work.deny("consent.record", patient_id=patient.id)
        raise Forbidden("consent is recorded by the patient's clinic")
    if expires_at is not None and expires_at <= work.now:
        raise InvalidInput("expiry must be in the future", field="expires_at")
    consent = Consent(
        patient_id=patient.id,
        scope=scope,
        recorded_by=work.principal.user_id,
        granted_at=work.now,
        expires_at=expires_at,
        note=note,
    )
    work.session.add(consent)
    await work.session.flush()
    work.audit(
        "consent.record", patient_id=patient.id, obj=("consent", consent.id), scope=str(scope)
    )
    return consent


async def withdraw(work: Work, consent_id: int) -> Consent:
    consent = await work.session.get(Consent, consent_id)
    if consent is None:
        raise NotFound(f"no consent {consent_id}")
    await known_patient(work, consent.patient_id, "consent.withdraw")
    if not work.principal.is_clinic:
        raise Forbidden("consent is withdrawn at the patient's clinic")
    if consent.withdrawn_at is not None:
        raise Conflict("consent already withdrawn")
    consent.withdrawn_at = work.now
    consent.withdrawn_by = work.principal.user_id
    work.audit("consent.withdraw", patient_id=consent.patient_id, obj=("consent", consent.id))
    return consent


async def list_for(work: Work, patient_id: int) -> list[Consent]:
    patient = await known_patient(work, patient_id, "consent.list")
    rows = await work.session.scalars(
        select(Consent).where(Consent.patient_id == patient.id).order_by(Consent.id)
    )
    work.audit("consent.list", patient_id=patient.id)
    return list(rows)


async def active_scopes(work: Work, patient_id: int) -> set[ConsentScope]:
    rows = await work.session.scalars(select(Consent).where(Consent.patient_id == patient_id))
    return {c.scope for c in rows if c.active_at(work.now)}


async def emergency_override(work: Work, patient_id: int, reason: str) -> EmergencyOverride:
    """Break the glass: a county specialist reads a patient's record without consent.

    The reason is required and the override is always audited; it lasts for the policy's
    ``override_duration``.
    """
    patient = await known_patient(work, patient_id, "consent.override")
    if work.principal.is_clinic:
        raise Forbidden("the patient's own clinic needs no override")
    if len(reason.strip()) < MIN_REASON:
        raise InvalidInput(
            f"an override needs a reason of at least {MIN_REASON} characters", field="reason"
        )
    override = EmergencyOverride(
        patient_id=patient.id,
        user_id=work.principal.user_id,
        reason=reason.strip(),
        created_at=work.now,
        expires_at=work.now + work.policy.override_duration,
    )
    work.session.add(override)
    await work.session.flush()
    work.audit(
        "consent.override",
        patient_id=patient.id,
        obj=("override", override.id),
        reason=override.reason,
        expires_at=override.expires_at.isoformat(),
    )
    return override
