"""Public verification of a printed report: what its QR code opens, for anyone who holds the paper.

The token is random (not derived from the report id) and given to each signed version. The
answer names no patient beyond masked initials and carries no identifier of them: it confirms
the version exists, is signed, by whom and when, whether a later version superseded it, and the
hash of the signed content so the paper can be compared with the record.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from consult.center import Work
from consult.errors import NotFound
from consult.models import Institution, Report
from consult.vocab import InstitutionLevel, ReportStatus

TOKEN_BYTES = 24
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")
"""What :func:`new_token` makes; anything else is refused before the database is asked."""


def new_token() -> str:
    """A fresh verification token (192 random bits, URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def masked_name(name: str) -> str:
    """The patient's name as the public page shows it: its first character, the rest starred."""
    name = name.strip()
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


@dataclass(frozen=True)
class Verification:
    """What the public verification page may say of one signed report version."""

    institution: str
    institution_en: str
    kind: str
    version: int
    amended: bool
    signer: str
    signed_at: dt.datetime
    content_hash: str
    patient: str
    superseded: bool
    latest_version: int
    latest_signed_at: dt.datetime | None


async def center_institution(work: Work) -> Institution | None:
    """The county center whose name heads a printed report."""
    return await work.session.scalar(
        select(Institution)
        .where(Institution.level == InstitutionLevel.COUNTY)
        .order_by(Institution.id)
        .limit(1)
    )


async def _latest(work: Work, report: Report) -> Report:
    """The newest signed version in the chain that ``report`` starts (itself if not superseded)."""
    latest = report
    seen = {report.id}
    while latest.superseded_by_id is not None and latest.superseded_by_id not in seen:
        following = await work.session.get(Report, latest.superseded_by_id)
        if following is None:
            break
        seen.add(following.id)
        latest = following
    return latest


async def verify(work: Work, token: str) -> Verification:
    """The public facts of the signed version that ``token`` names; :class:`NotFound` else."""
    if not TOKEN_SHAPE.fullmatch(token):
        raise NotFound("no such report")
    report = await work.session.scalar(
        select(Report)
        .options(joinedload(Report.signer))
        .where(Report.verify_token == token, Report.status != ReportStatus.DRAFT)
    )
    if report is None or report.signed_at is None:
        raise NotFound("no such report")
    latest = await _latest(work, report)
    center = await center_institution(work)
    return Verification(
        institution=center.name if center else "",
        institution_en=center.name_en if center else "",
        kind=str(report.request.kind),
        version=report.version,
        amended=report.status is ReportStatus.AMENDED,
        signer=report.signer_name or "",
        signed_at=report.signed_at,
        content_hash=report.content_hash,
        patient=masked_name(report.request.patient.name),
        superseded=latest.id != report.id,
        latest_version=latest.version,
        latest_signed_at=latest.signed_at if latest.id != report.id else None,
    )
