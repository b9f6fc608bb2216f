"""Signed reports out to the clinics' HIS over HL7 v2 (ORU^R01 for lab reports, MDM for text
reports; :mod:`lab.hl7_reports`).

Each signed or amended report of a clinic whose HIS endpoint is set
(:func:`consult.institutions.set_his_endpoint`) is queued in :class:`~lab.tables.HisOutbound`
in the signing's own transaction (a :data:`consult.center.ReportHook`), and a background task
delivers the queue, in order per clinic, to that clinic's endpoint only. What the HIS answers
decides what happens next (original acknowledgment mode, HL7 v2.5 chapter 2, section 2.9.2):

- AA (or CA): delivered; the ACK is recorded.
- AE, application error: the message itself was found wrong (a missing field, an unknown
  value); sending the same bytes again gets the same answer, so the row stops and waits for a
  person (its MSA-3 is kept). Later messages to that clinic still go.
- AR, application reject, no ACK, a refused or broken connection: the HIS could not take it
  now (v2.5 allows AR for "the receiving system is down" reasons); retried with exponential
  backoff until :data:`MAX_ATTEMPTS`, then stopped. Later messages to the clinic wait behind
  it, so that a correction never overtakes the report it corrects.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select

from consult.center import Center, Work
from consult.models import DiagnosticRequest, Institution, Patient, Report, User
from consult.principal import SYSTEM
from lab import hl7_reports
from lab.mllp import MllpClient
from lab.outbox import Attempt, OutboxCounts, attempt
from lab.tables import HisOutbound

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
OUTBOX = "his"
CLIENT = "his-outbox"


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait before the next try: ``base * 2**(attempts - 1)``, at most ``cap``."""

    base: float = 5.0
    cap: float = 3600.0

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < self.base:
            raise ValueError(f"bad backoff {self.base} s up to {self.cap} s")

    def delay(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(seconds=min(self.cap, self.base * 2 ** max(attempts - 1, 0)))


class HisClients:
    """One MLLP connection per HIS endpoint, kept between passes (no retries of its own: the
    outbox's backoff decides)."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._clients: dict[tuple[str, int], MllpClient] = {}

    def get(self, host: str, port: int) -> MllpClient:
        key = (host, port)
        if key not in self._clients:
            self._clients[key] = MllpClient(host, port, timeout=self.timeout, retries=0)
        return self._clients[key]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


async def enqueue(work: Work, report: Report, request: DiagnosticRequest) -> None:
    """Queue the report's message for the requesting clinic's HIS (nothing when it has none);
    the :data:`consult.center.ReportHook` of the outbox."""
    await queue(work, report, request)


async def queue(work: Work, report: Report, request: DiagnosticRequest) -> HisOutbound | None:
    """The outbox row of the report's message (None: the clinic has no HIS endpoint)."""
    clinic = await work.session.get(Institution, request.requesting_institution_id)
    if clinic is None or not (clinic.his_host and clinic.his_port):
        return None
    outgoing = await _outgoing(work, report, request, clinic)
    control = uuid.uuid4().hex[:20]
    row = HisOutbound(
        institution_id=clinic.id,
        report_id=report.id,
        message_type=hl7_reports.message_type(outgoing),
        control_id=control,
        message=hl7_reports.build(outgoing, now=work.now, control_id=control),
        created_at=work.now,
        next_attempt_at=work.now,
    )
    work.session.add(row)
    return row


async def _outgoing(
    work: Work, report: Report, request: DiagnosticRequest, clinic: Institution
) -> hl7_reports.OutgoingReport:
    patient = await work.session.get(Patient, request.patient_id)
    assert patient is not None
    signer = await work.session.get(User, report.signed_by) if report.signed_by else None
    replaced = (
        await work.session.get(Report, report.supersedes_id) if report.supersedes_id else None
    )
    return hl7_reports.OutgoingReport(
        kind=request.kind.value,
        request_identifier=request.identifier,
        version=report.version,
        signed_at=report.signed_at or work.now,
        signer=signer.display_name if signer else "",
        signer_id=report.signed_by or 0,
        patient_id=patient.id,
        patient_name=patient.name,
        resident_id=patient.resident_id or "",
        sex=patient.sex.value,
        birth_date=patient.birth_date,
        receiving_facility=clinic.code,
        findings=report.findings,
        impression=report.impression,
        data=report.data or {},
        replaces_version=replaced.version if replaced else None,
    )


def waiting_clause() -> ColumnElement[bool]:
    return and_(HisOutbound.sent_at.is_(None), HisOutbound.stopped_at.is_(None))


async def pending_count(center: Center) -> int:
    """Messages waiting for a HIS (not accepted, not stopped)."""
    async with center.work(SYSTEM, client=CLIENT) as work:
        count = await work.session.scalar(
            select(func.count()).select_from(HisOutbound).where(waiting_clause())
        )
    return int(count or 0)


async def stopped_count(center: Center) -> int:
    """Messages the outbox gave up on (an AE, or the attempts used up): a person looks."""
    async with center.work(SYSTEM, client=CLIENT) as work:
        count = await work.session.scalar(
            select(func.count()).select_from(HisOutbound).where(HisOutbound.stopped_at.is_not(None))
        )
    return int(count or 0)


@dataclass(frozen=True)
class _Due:
    row_id: int
    message: str
    host: str
    port: int


async def _due(center: Center, limit: int, now: dt.datetime | None) -> list[_Due]:
    """The waiting messages that are due, oldest first; an endpoint whose oldest waiting
    message is not yet due (a retry backing off) sends nothing after it."""
    async with center.work(SYSTEM, client=CLIENT) as work:
        moment = now or work.now
        rows = await work.session.execute(
            select(
                HisOutbound.id,
                HisOutbound.message,
                HisOutbound.next_attempt_at,
                Institution.his_host,
                Institution.his_port,
            )
            .join(Institution, Institution.id == HisOutbound.institution_id)
            .where(waiting_clause(), Institution.his_port > 0)
            .order_by(HisOutbound.id)
            .limit(limit * 4)
        )
        due: list[_Due] = []
        waiting: set[tuple[str, int]] = set()
        for r in rows:
            endpoint = (r.his_host, r.his_port)
            if endpoint in waiting:
                continue
            if r.next_attempt_at > moment:
                waiting.add(endpoint)
            elif len(due) < limit:
                due.append(_Due(r.id, r.message, r.his_host, r.his_port))
        return due


async def deliver_pending(
    center: Center,
    clients: HisClients,
    *,
    backoff: Backoff | None = None,
    limit: int = 50,
    counts: OutboxCounts | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Send the messages that are due, each to its clinic's HIS (no transaction held while on
    the wire); return how many were accepted. ``now``: the time that decides what is due (the
    center's clock when None)."""
    backoff = backoff or Backoff()
    blocked: set[tuple[str, int]] = set()
    sent = 0
    for due in await _due(center, limit, now):
        endpoint = (due.host, due.port)
        if endpoint in blocked:  # keep each clinic's order: nothing overtakes a retry
            continue
        result = await attempt(clients.get(due.host, due.port), due.message)
        retry = await _record(center, due.row_id, result, backoff)
        if result.accepted:
            sent += 1
            continue
        logger.warning("HIS %s:%s: outbound %s failed: %s", *endpoint, due.row_id, result.error)
        if counts is not None:
            counts.failed(OUTBOX)
        if retry:
            blocked.add(endpoint)
    return sent


async def _record(center: Center, row_id: int, result: Attempt, backoff: Backoff) -> bool:
    """Write the attempt's outcome on the row; whether it will be tried again."""
    async with center.work(SYSTEM, client=CLIENT) as work:
        row = await work.session.get(HisOutbound, row_id)
        assert row is not None
        row.attempts += 1
        row.ack_code, row.ack_text = result.code[:2], result.text[:500]
        row.last_error = result.error[:500]
        if result.accepted:
            row.sent_at = work.now
            return False
        if result.code in ("AE", "CE") or row.attempts >= MAX_ATTEMPTS:
            row.stopped_at = work.now
            return False
        row.next_attempt_at = work.now + backoff.delay(row.attempts)
        return True
