"""A patient's records elsewhere in the region, asked of the regional FHIR platform.

Asking the region discloses who the patient is to another system, so it needs the patient's
own consent for it (``regional_records``), beyond the county's right to read the record here;
every query is audited before it leaves (``patient.regional``). The query runs outside any
database transaction: :func:`authorise` in a unit of work, then :func:`ask_region`.

The platform is found by the patient's resident ID; a platform that knows no such patient, or
more than one, gets nothing shown (right patient first).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from consult.access import known_patient, require_grant
from consult.center import Work
from consult.consent import active_scopes
from consult.errors import ConsentRequired, UpstreamFailed
from consult.fhir.regional import TIMELINE_TYPES, Timeline, add_bundle, matching_patients
from consult.vocab import ConsentScope

logger = logging.getLogger(__name__)

ACTION = "patient.regional"
PAGE = 50


class RegionalSource(Protocol):
    """A regional FHIR R4 server, searched over whatever transport the adapter speaks."""

    name: str
    identifier_system: str
    """The system of the resident ID in the region's Patient.identifier."""

    async def search(self, resource_type: str, params: Mapping[str, str]) -> Any:
        """The searchset (parsed JSON) for ``GET [base]/resource_type?params``.

        Raises :class:`~consult.errors.UpstreamFailed` (or ``UpstreamTimeout``) when the
        server cannot be reached or does not answer 200 with JSON.
        """
        ...


@dataclass
class RegionalRecords:
    """What the region answered; ``status`` says why ``entries`` may be empty."""

    status: str
    source: str = ""
    entries: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    mismatched: int = 0
    more: bool = False
    unavailable: list[str] = field(default_factory=list)
    """Record types the platform failed to search (the others are still shown)."""

    @property
    def configured(self) -> bool:
        return self.status != "not_configured"


async def authorise(work: Work, patient_id: int, source: RegionalSource | None) -> str | None:
    """Check the caller may ask the region about the patient, audit it; the resident ID.

    ``None`` when there is nothing to ask (no platform configured: not audited).

    Raises
    ------
    NotFound
        The patient is outside the caller's scope.
    ConsentRequired
        No records consent (county staff), or no ``regional_records`` consent.
    """
    patient = await known_patient(work, patient_id, ACTION)
    if source is None:
        return None
    await require_grant(work, patient.id, ACTION)
    if ConsentScope.REGIONAL_RECORDS not in await active_scopes(work, patient.id):
        work.deny(
            ACTION, patient_id=patient.id, obj=("patient", patient.id), reason="no regional consent"
        )
        raise ConsentRequired(
            "the patient has not consented to the regional platform being asked",
            code="regional_consent_required",
        )
    work.audit(
        ACTION,
        patient_id=patient.id,
        obj=("patient", patient.id),
        source=source.name,
        identifier=bool(patient.resident_id),
    )
    return patient.resident_id or ""


async def ask_region(source: RegionalSource, resident_id: str) -> RegionalRecords:
    """Find the patient in the region by resident ID, then their documents, reports and
    encounters (searched side by side; a type the platform fails on is listed, not fatal)."""
    if not resident_id:
        return RegionalRecords("no_identifier", source.name)
    found = matching_patients(
        await source.search("Patient", {"identifier": f"{source.identifier_system}|{resident_id}"}),
        source.identifier_system,
        resident_id,
    )
    if len(found) != 1:
        return RegionalRecords("not_found" if not found else "ambiguous", source.name)
    query = {"patient": found[0], "_count": str(PAGE), "_sort": "-date"}
    answers = await asyncio.gather(
        *(source.search(kind, query) for kind in TIMELINE_TYPES), return_exceptions=True
    )
    timeline = Timeline(entries=[])
    failed: list[tuple[str, UpstreamFailed]] = []
    for kind, answer in zip(TIMELINE_TYPES, answers, strict=True):
        try:
            if isinstance(answer, BaseException):
                raise answer
            add_bundle(timeline, kind, answer, found[0])
        except UpstreamFailed as exc:
            logger.warning("regional %s search failed: %s", kind, exc.message)
            failed.append((kind, exc))
    if len(failed) == len(TIMELINE_TYPES):
        raise failed[0][1]
    return RegionalRecords(
        "ok",
        source.name,
        entries=[e.as_json() for e in timeline.entries],
        skipped=timeline.skipped,
        mismatched=timeline.mismatched,
        more=timeline.more,
        unavailable=[kind for kind, _ in failed],
    )
