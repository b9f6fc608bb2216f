"""Second reading before release: a different specialist confirms a sampled report or records
a discrepancy with the first reader.

When a first report of a kind with a rule (:class:`consult.policy.SecondReadingRule`) is signed,
:func:`consult.reports.sign` records the sampling decision; a sampled report stays final but
unreleased (the request in progress, nothing delivered, the clinic does not see it) until a
specialist of the kind who neither wrote nor signed it records a verdict here:

- ``none`` or ``minor`` (with a note): the first report is released as signed;
- ``major`` (with a note): the second reader signs the corrected findings and impression as an
  amended version (the first one kept unchanged, superseded), and both are released, the
  amendment being the current version. The second reader amends rather than returning the
  report: the clinic waits for one reader, not two turns.

Two second readers racing for the same report: one verdict (a guarded compare-and-set); the
other gets 409 ``second_reading_taken``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select

from consult import reports
from consult.access import readable_request
from consult.center import Work
from consult.errors import Conflict, Forbidden, InvalidInput, NotFound
from consult.lifecycle import Lifecycle
from consult.models import DiagnosticRequest, Report, User
from consult.quality_tables import Discrepancy, SecondReading, SecondReadingStatus
from consult.statistics import MAX_PERIOD
from consult.vocab import Role

logger = logging.getLogger(__name__)

LIFECYCLE = Lifecycle(
    "second reading",
    {
        SecondReadingStatus.NOT_REQUIRED: set(),
        SecondReadingStatus.PENDING: {SecondReadingStatus.DONE},
        SecondReadingStatus.DONE: set(),
    },
    stamp="decided_at",
)
TAKEN = "该报告已由他人复核 / another specialist already read this report"
QUALITY_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR} | {r for r in Role if r.is_center})
"""Who reads the discrepancy rates: the county's staff and the supervisor (no clinic)."""


@dataclass(frozen=True)
class Verdict:
    discrepancy: Discrepancy
    note: str = ""
    findings: str = ""
    """The corrected findings (a major discrepancy)."""
    impression: str = ""


async def record(work: Work, report_id: int, verdict: Verdict) -> SecondReading:
    """The second reader's verdict on a pending report, which is then released."""
    reading, report, request = await _pending(work, report_id)
    me = work.principal.user_id
    if me in (reading.first_reader_id, report.author_id, report.signed_by):
        work.deny("report.second_reading", patient_id=request.patient_id, obj=("report", report_id))
        raise Forbidden(
            "复核须由另一位医生完成 / the second reader must not be the first reader",
            code="same_reader",
        )
    note = verdict.note.strip()
    if verdict.discrepancy is not Discrepancy.NONE and not note:
        raise InvalidInput("有差异时须说明 / a discrepancy needs a note", field="note")
    major = verdict.discrepancy is Discrepancy.MAJOR
    if major and not (verdict.findings.strip() or verdict.impression.strip()):
        raise InvalidInput(
            "重大差异须给出更正的所见或结论 / a major discrepancy needs the corrected findings "
            "or impression",
            field="findings",
        )
    await LIFECYCLE.claim(
        work.session,
        reading,
        SecondReadingStatus.DONE,
        work.now,
        code="second_reading_taken",
        message=TAKEN,
        second_reader_id=me,
        discrepancy=verdict.discrepancy,
        note=note,
    )
    await reports.release(work, report, request)
    if major:
        amended = await reports.amend_as_second_reader(
            work,
            report,
            request,
            reason=note,
            findings=verdict.findings,
            impression=verdict.impression,
        )
        reading.amended_report_id = amended.id
    work.audit(
        "report.second_reading",
        patient_id=request.patient_id,
        obj=("report", report.id),
        discrepancy=verdict.discrepancy.value,
    )
    await work.session.flush()
    return reading


async def _pending(work: Work, report_id: int) -> tuple[SecondReading, Report, DiagnosticRequest]:
    reading = await work.session.scalar(
        select(SecondReading).where(SecondReading.report_id == report_id)
    )
    report = await work.session.get(Report, report_id)
    if reading is None or report is None:
        raise NotFound(f"报告 {report_id} 无需复核 / report {report_id} has no second reading")
    try:
        request = await readable_request(work, report.request_id, "report.second_reading")
    except NotFound:
        raise NotFound(f"no report {report_id}") from None
    if request.kind not in work.principal.kinds:
        work.deny("report.second_reading", patient_id=request.patient_id, obj=("report", report_id))
        raise Forbidden("只有本类别的医生可复核 / only specialists of this kind read it second")
    if reading.status is SecondReadingStatus.DONE:  # the race lost before the read, not during
        raise Conflict(TAKEN, code="second_reading_taken")
    LIFECYCLE.check(reading, SecondReadingStatus.DONE)
    return reading, report, request


async def queue(work: Work, limit: int = 100) -> list[SecondReading]:
    """Reports of the caller's kinds waiting for a second reader, oldest first (not their own)."""
    kinds = sorted(k.value for k in work.principal.kinds)
    if not kinds:
        raise Forbidden("只有专科医生复核 / second readings are for the specialists")
    return list(
        await work.session.scalars(
            select(SecondReading)
            .where(
                SecondReading.status == SecondReadingStatus.PENDING,
                SecondReading.kind.in_(kinds),
                SecondReading.first_reader_id != work.principal.user_id,
            )
            .order_by(SecondReading.signed_at, SecondReading.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class ReaderQuality:
    """One first reader's second readings completed in the period, by verdict."""

    reader_id: int
    reader_name: str
    second_readings: int
    minor: int
    major: int
    discrepancy_rate: float | None
    """(minor + major) / second readings."""


async def discrepancy_rates(
    work: Work, since: dt.datetime, until: dt.datetime
) -> list[ReaderQuality]:
    """Per first reader, the second readings decided in ``[since, until)`` and their
    discrepancies (staff names only, never a patient)."""
    if work.principal.role not in QUALITY_ROLES and not work.principal.system:
        work.deny("quality.read")
        raise Forbidden("无权查看质控统计 / report quality is not for this role")
    if until <= since:
        raise InvalidInput("统计时段的结束须晚于开始 / until must be after since", field="until")
    if until - since > MAX_PERIOD:
        raise InvalidInput("统计时段最长十年 / the period is at most ten years", field="since")
    s = SecondReading

    def count(category: Discrepancy) -> ColumnElement[int]:
        return func.count().filter(s.discrepancy == category)

    query = (
        select(
            s.first_reader_id,
            User.display_name,
            func.count(),
            count(Discrepancy.MINOR),
            count(Discrepancy.MAJOR),
        )
        .join(User, User.id == s.first_reader_id)
        .where(
            and_(s.status == SecondReadingStatus.DONE, s.decided_at >= since, s.decided_at < until)
        )
        .group_by(s.first_reader_id, User.display_name)
        .order_by(s.first_reader_id)
    )
    out = [
        ReaderQuality(
            int(rid),
            name,
            int(n),
            int(minor),
            int(major),
            (int(minor) + int(major)) / int(n) if n else None,
        )
        for rid, name, n, minor, major in await work.session.execute(query)
    ]
    work.audit("quality.read", since=since.isoformat(), until=until.isoformat())
    return out
