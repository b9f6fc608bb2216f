"""What an administrator does with the HIS outbox (:mod:`lab.his`): read it, and send again a
message it gave up on once the clinic's HIS is fixed.

The rows shown carry no message text (it holds the patient's report); the administrator sees
which report, which clinic, the ACK and the error, which is what fixing a link needs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import aliased

from consult.center import Work
from consult.errors import Conflict, NotFound
from consult.models import Institution, Report
from lab.his import waiting_clause
from lab.tables import HisOutbound

MAX_ROWS = 500


class OutboxState(StrEnum):
    WAITING = "waiting"
    """Not yet accepted, still being tried."""
    STOPPED = "stopped"
    """Given up on (an AE, or the attempts used up): waits for a person."""
    SENT = "sent"
    """Accepted by the HIS."""


@dataclass(frozen=True)
class OutboxFilter:
    institution_id: int | None = None
    state: OutboxState | None = None
    limit: int = 100


def _in_state(state: OutboxState) -> ColumnElement[bool]:
    if state is OutboxState.SENT:
        return HisOutbound.sent_at.is_not(None)
    if state is OutboxState.STOPPED:
        return HisOutbound.stopped_at.is_not(None)
    return waiting_clause()


async def rows(work: Work, wanted: OutboxFilter) -> list[HisOutbound]:
    """The outbox's rows, newest first."""
    query = select(HisOutbound).order_by(HisOutbound.id.desc())
    if wanted.institution_id is not None:
        query = query.where(HisOutbound.institution_id == wanted.institution_id)
    if wanted.state is not None:
        query = query.where(_in_state(wanted.state))
    found = list(await work.session.scalars(query.limit(min(wanted.limit, MAX_ROWS))))
    work.audit(
        "his.outbox.read",
        institution=wanted.institution_id,
        state=str(wanted.state or ""),
        count=len(found),
    )
    return found


@dataclass(frozen=True)
class Link:
    """A clinic's HIS endpoint and how its outbox stands."""

    institution_id: int
    host: str
    port: int
    waiting: int = 0
    stopped: int = 0


async def links(work: Work, institution_id: int | None = None) -> list[Link]:
    """Every institution's HIS link (or one's), with its waiting and stopped messages counted
    in one query."""
    counted = (
        select(
            HisOutbound.institution_id,
            func.count().filter(_in_state(OutboxState.WAITING)).label("waiting"),
            func.count().filter(_in_state(OutboxState.STOPPED)).label("stopped"),
        )
        .group_by(HisOutbound.institution_id)
        .subquery()
    )
    query = (
        select(
            Institution.id,
            Institution.his_host,
            Institution.his_port,
            func.coalesce(counted.c.waiting, 0),
            func.coalesce(counted.c.stopped, 0),
        )
        .outerjoin(counted, counted.c.institution_id == Institution.id)
        .order_by(Institution.id)
    )
    if institution_id is not None:
        query = query.where(Institution.id == institution_id)
    return [Link(*row) for row in await work.session.execute(query)]


async def _overtaken(work: Work, row: HisOutbound) -> bool:
    """A later message about the same request (an amendment) went or waits after ``row``:
    sending ``row`` now would put an older version over a newer one at the HIS."""
    mine, later = aliased(Report), aliased(Report)
    found = await work.session.scalar(
        select(HisOutbound.id)
        .join(later, later.id == HisOutbound.report_id)
        .join(mine, mine.request_id == later.request_id)
        .where(
            mine.id == row.report_id,
            HisOutbound.institution_id == row.institution_id,
            HisOutbound.id > row.id,
        )
        .limit(1)
    )
    return found is not None


async def retry(work: Work, row_id: int, now: dt.datetime | None = None) -> HisOutbound:
    """Put a stopped message back in the queue, due now, with its attempts counted afresh.

    Raises
    ------
    NotFound
        No such row.
    Conflict
        The row is not stopped (``not_stopped``), or a later version of the same report has been
        queued for the clinic since (``superseded``).
    """
    row = await work.session.get(HisOutbound, row_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no outbox message {row_id}")
    if row.stopped_at is None or row.sent_at is not None:
        raise Conflict("only a stopped message is sent again", code="not_stopped")
    if await _overtaken(work, row):
        raise Conflict(
            "a later version of this report went to the clinic since; it is not sent again",
            code="superseded",
        )
    row.stopped_at, row.attempts, row.next_attempt_at = None, 0, now or work.now
    work.audit(
        "his.outbox.retry",
        obj=("report", row.report_id),
        row=row.id,
        institution=row.institution_id,
        last_error=row.last_error[:200],
    )
    return row
