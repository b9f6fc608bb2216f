"""Statistics of the community over a period and an institution: aggregates only, never a patient.

Everything here is counted in SQL. Percentiles are PostgreSQL's ``percentile_cont`` there; on
SQLite the same linear interpolation is taken from window functions (``row_number`` and
``count`` over each group), so that at most four rows per group leave the database whatever the
number of requests.

A request counts in the period when it was *made* in ``[since, until)``; an alert when it was
raised in it, a referral when it was opened in it. Durations are in minutes.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from consult.center import Work
from consult.critical_tables import CriticalAlert
from consult.errors import Forbidden, InvalidInput, NotFound
from consult.models import DiagnosticRequest, Institution, Referral, Report, User
from consult.principal import clinic_scope_of
from consult.reports import standing_clause
from consult.vocab import (
    InstitutionLevel,
    ReferralStatus,
    RequestKind,
    RequestStatus,
    Role,
)

logger = logging.getLogger(__name__)

MAX_PERIOD = dt.timedelta(days=3660)
"""The longest period asked for at once (ten years)."""
QUANTILES = (0.5, 0.9)
"""The median and the 90th percentile (in this order in :class:`Spread`)."""
OPEN_STATES = tuple(s.value for s in RequestStatus if s.is_open)
STATISTICS_ROLES = frozenset(
    {Role.ADMIN, Role.SUPERVISOR, Role.VILLAGE_DOCTOR, Role.TOWNSHIP_DOCTOR}
    | {r for r in Role if r.is_center}
    | {Role.DUTY_DESK, Role.REFERRAL_DESK, Role.DEPARTMENT_DESK}
)
"""Who may read statistics: the county's staff and the supervisor (the whole community), a
clinic (its own institution). The auditor reads the audit log, not these."""


@dataclass(frozen=True)
class Spread:
    """How long something took in a group: how many, median and 90th percentile (minutes)."""

    count: int = 0
    median_minutes: float | None = None
    p90_minutes: float | None = None
    counted: int = 0
    """How many of them meet the ``counted`` condition given to :func:`spread_by`."""


@dataclass(frozen=True)
class Volume:
    institution_id: int
    kind: RequestKind
    requests: int
    completed: int
    cancelled: int
    """Cancelled or rejected."""
    open: int
    overdue: int
    """Open and past their deadline now."""


@dataclass(frozen=True)
class Turnaround:
    kind: RequestKind
    priority: str
    completed: int
    median_minutes: float | None
    p90_minutes: float | None
    within_deadline: int
    within_deadline_share: float | None


@dataclass(frozen=True)
class Critical:
    raised: int = 0
    acknowledged: int = 0
    median_ack_minutes: float | None = None
    p90_ack_minutes: float | None = None


@dataclass(frozen=True)
class Referrals:
    up: int = 0
    """Referrals opened to a county department."""
    closed: int = 0
    cancelled: int = 0
    open: int = 0
    down: int = 0
    """Back-referrals: the county sent the patient back to the clinic."""
    completion_share: float | None = None
    """Closed of those not cancelled."""


@dataclass(frozen=True)
class Positives:
    """The readers' calls on the signed reports of one institution's requests of one kind."""

    institution_id: int
    kind: RequestKind
    reported: int
    """Requests with a signed report (its current version)."""
    positive: int
    negative: int
    positive_share: float | None
    """Positive of those with a call (a report without one counts in neither)."""


@dataclass(frozen=True)
class Workload:
    """What one specialist signed for the requests of the period, of one kind."""

    user_id: int
    name: str
    kind: RequestKind
    signed: int
    """First reports signed."""
    amended: int
    """Amendments (corrections and second readings) signed."""
    median_minutes: float | None
    """From the request to the first report's signature."""


@dataclass(frozen=True)
class Statistics:
    since: dt.datetime
    until: dt.datetime
    institution_id: int | None
    institution_ids: list[int]
    """The institutions counted (empty: the whole community)."""
    volumes: list[Volume] = field(default_factory=list)
    turnaround: list[Turnaround] = field(default_factory=list)
    critical: Critical = field(default_factory=Critical)
    referrals: Referrals = field(default_factory=Referrals)
    consults_requested: int = 0
    consults_completed: int = 0
    consult_median_minutes: float | None = None
    """From the specialist's accepting the consult to its end."""
    consult_p90_minutes: float | None = None
    positives: list[Positives] = field(default_factory=list)
    workload: list[Workload] = field(default_factory=list)


async def compute(
    work: Work, since: dt.datetime, until: dt.datetime, institution_id: int | None = None
) -> Statistics:
    """The statistics of requests made in ``[since, until)`` by ``institution_id`` (a township
    counts with its villages; none or the county hospital: the community, within the caller's
    scope)."""
    if until <= since:
        raise InvalidInput("统计时段的结束须晚于开始 / until must be after since", field="until")
    if until - since > MAX_PERIOD:
        raise InvalidInput("统计时段最长十年 / the period is at most ten years", field="since")
    scope = await _scope(work, institution_id)
    req = _request_filter(since, until, scope)
    volumes = await _volumes(work, req)
    turnaround = await _turnaround(work, req)
    consult_spread = await _consult_spread(work, req)
    consults = [v for v in volumes if v.kind is RequestKind.VIDEO_CONSULT]
    result = Statistics(
        since=since,
        until=until,
        institution_id=institution_id,
        institution_ids=sorted(scope),
        volumes=volumes,
        turnaround=turnaround,
        critical=await _critical(work, since, until, scope),
        referrals=await _referrals(work, since, until, scope),
        consults_requested=sum(v.requests for v in consults),
        consults_completed=sum(v.completed for v in consults),
        consult_median_minutes=consult_spread.median_minutes,
        consult_p90_minutes=consult_spread.p90_minutes,
        positives=await _positives(work, req),
        workload=await _workload(work, req),
    )
    work.audit(
        "statistics.read",
        obj=("institution", institution_id or 0),
        since=since.isoformat(),
        until=until.isoformat(),
    )
    return result


async def _scope(work: Work, institution_id: int | None) -> frozenset[int]:
    """The requesting institutions counted; empty means every one."""
    principal = work.principal
    if principal.role not in STATISTICS_ROLES and not principal.system:
        work.deny("statistics.read")
        raise Forbidden("无权查看统计 / statistics are not for this role")
    if institution_id is None:
        return principal.clinic_scope if principal.is_clinic else frozenset()
    institution = await work.session.get(Institution, institution_id)
    if institution is None or (
        principal.is_clinic and institution_id not in principal.clinic_scope
    ):
        work.deny("statistics.read", obj=("institution", institution_id))
        raise NotFound(f"没有机构 {institution_id} / no institution {institution_id}")
    if institution.level is InstitutionLevel.COUNTY:
        return principal.clinic_scope if principal.is_clinic else frozenset()
    own = await clinic_scope_of(work.session, institution)
    return own & principal.clinic_scope if principal.is_clinic else own


def _request_filter(
    since: dt.datetime, until: dt.datetime, scope: frozenset[int]
) -> ColumnElement[bool]:
    made = and_(DiagnosticRequest.created_at >= since, DiagnosticRequest.created_at < until)
    if scope:
        return and_(made, DiagnosticRequest.requesting_institution_id.in_(sorted(scope)))
    return made


def _dialect(work: Work) -> str:
    return work.session.get_bind().dialect.name


def _minutes(work: Work, end: Any, start: Any) -> ColumnElement[Any]:
    """``end - start`` in minutes, on either backend."""
    if _dialect(work) == "postgresql":
        return func.date_part("epoch", end - start) / 60.0  # double precision, not numeric
    return (func.julianday(end) - func.julianday(start)) * cast(1440.0, Float)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def _volumes(work: Work, req: ColumnElement[bool]) -> list[Volume]:
    r = DiagnosticRequest
    query = (
        select(
            r.requesting_institution_id,
            r.kind,
            func.count(),
            _count_if(r.status == RequestStatus.COMPLETED),
            _count_if(r.status.in_([RequestStatus.CANCELLED, RequestStatus.REJECTED])),
            _count_if(r.status.in_(OPEN_STATES)),
            _count_if(and_(r.status.in_(OPEN_STATES), r.due_at < work.now)),
        )
        .where(req)
        .group_by(r.requesting_institution_id, r.kind)
        .order_by(r.requesting_institution_id, r.kind)
    )
    return [
        Volume(inst, RequestKind(kind), int(n), int(done), int(gone), int(left), int(late))
        for inst, kind, n, done, gone, left, late in await work.session.execute(query)
    ]


async def _turnaround(work: Work, req: ColumnElement[bool]) -> list[Turnaround]:
    r = DiagnosticRequest
    done = and_(req, r.status == RequestStatus.COMPLETED, r.completed_at.is_not(None))
    spreads = await spread_by(
        work,
        [r.kind, r.priority],
        _minutes(work, r.completed_at, r.created_at),
        done,
        counted=r.completed_at <= r.due_at,
    )
    rows = [
        Turnaround(
            kind=RequestKind(kind),
            priority=priority,
            completed=spread.count,
            median_minutes=spread.median_minutes,
            p90_minutes=spread.p90_minutes,
            within_deadline=spread.counted,
            within_deadline_share=spread.counted / spread.count if spread.count else None,
        )
        for (kind, priority), spread in spreads.items()
    ]
    return sorted(rows, key=lambda t: (t.kind.value, t.priority))


async def _consult_spread(work: Work, req: ColumnElement[bool]) -> Spread:
    r = DiagnosticRequest
    done = and_(
        req,
        r.kind == RequestKind.VIDEO_CONSULT,
        r.status == RequestStatus.COMPLETED,
        r.accepted_at.is_not(None),
        r.completed_at.is_not(None),
    )
    spreads = await spread_by(
        work, [literal("all")], _minutes(work, r.completed_at, r.accepted_at), done
    )
    return spreads.get(("all",), Spread())


async def _positives(work: Work, req: ColumnElement[bool]) -> list[Positives]:
    r = DiagnosticRequest
    outcome = Report.data["outcome"].as_string()
    query = (
        select(
            r.requesting_institution_id,
            r.kind,
            func.count(),
            _count_if(outcome == "positive"),
            _count_if(outcome == "negative"),
        )
        .where(req, Report.request_id == DiagnosticRequest.id, standing_clause())
        .group_by(r.requesting_institution_id, r.kind)
        .order_by(r.requesting_institution_id, r.kind)
    )
    return [
        Positives(
            inst,
            RequestKind(kind),
            int(n),
            int(pos),
            int(neg),
            pos / (pos + neg) if pos + neg else None,
        )
        for inst, kind, n, pos, neg in await work.session.execute(query)
    ]


async def _workload(work: Work, req: ColumnElement[bool]) -> list[Workload]:
    """One pass over the first reports (count and median per signer and kind), and a count of
    the amendments (few: the planner filters them before the join)."""
    r, rep = DiagnosticRequest, Report
    signed = and_(
        req, rep.request_id == r.id, rep.signed_by.is_not(None), rep.signed_at.is_not(None)
    )
    firsts = await spread_by(
        work,
        [rep.signed_by, r.kind],
        _minutes(work, rep.signed_at, r.created_at),
        and_(signed, rep.supersedes_id.is_(None)),
    )
    amended = {
        (str(uid), str(kind)): int(n)
        for uid, kind, n in await work.session.execute(
            select(rep.signed_by, r.kind, func.count())
            .where(signed, rep.supersedes_id.is_not(None))
            .group_by(rep.signed_by, r.kind)
        )
    }
    keys = set(firsts) | set(amended)
    users = {int(uid) for uid, _ in keys}
    found = await work.session.execute(select(User.id, User.display_name).where(User.id.in_(users)))
    names: dict[int, str] = {uid: name for uid, name in found}
    out = [
        Workload(
            int(uid),
            names.get(int(uid), ""),
            RequestKind(kind),
            firsts.get((uid, kind), Spread()).count,
            amended.get((uid, kind), 0),
            firsts.get((uid, kind), Spread()).median_minutes,
        )
        for uid, kind in keys
    ]
    return sorted(out, key=lambda w: (-w.signed, w.kind.value, w.user_id))


async def _critical(
    work: Work, since: dt.datetime, until: dt.datetime, scope: frozenset[int]
) -> Critical:
    a = CriticalAlert
    where = and_(a.raised_at >= since, a.raised_at < until)
    if scope:
        where = and_(where, a.institution_id.in_(sorted(scope)))
    raised, acked = (
        await work.session.execute(
            select(func.count(), _count_if(a.acknowledged_at.is_not(None))).where(where)
        )
    ).one()
    spreads = await spread_by(
        work,
        [literal("all")],
        _minutes(work, a.acknowledged_at, a.raised_at),
        and_(where, a.acknowledged_at.is_not(None)),
    )
    spread = spreads.get(("all",), Spread())
    return Critical(int(raised), int(acked or 0), spread.median_minutes, spread.p90_minutes)


async def _referrals(
    work: Work, since: dt.datetime, until: dt.datetime, scope: frozenset[int]
) -> Referrals:
    f = Referral
    where = and_(f.opened_at >= since, f.opened_at < until)
    if scope:
        where = and_(where, f.from_institution_id.in_(sorted(scope)))
    up, closed, cancelled, down = (
        await work.session.execute(
            select(
                func.count(),
                _count_if(f.status == ReferralStatus.CLOSED),
                _count_if(f.status == ReferralStatus.CANCELLED),
                _count_if(f.back_referred_at.is_not(None)),
            ).where(where)
        )
    ).one()
    up, closed, cancelled, down = int(up), int(closed or 0), int(cancelled or 0), int(down or 0)
    kept = up - cancelled
    return Referrals(
        up=up,
        closed=closed,
        cancelled=cancelled,
        open=kept - closed,
        down=down,
        completion_share=closed / kept if kept else None,
    )


# --- percentiles on either backend ---------------------------------------------------------


async def spread_by(
    work: Work,
    keys: Sequence[Any],
    minutes: ColumnElement[Any],
    where: ColumnElement[bool],
    *,
    counted: ColumnElement[bool] | None = None,
) -> dict[tuple[str, ...], Spread]:
    """Count, median and 90th percentile of ``minutes`` per group of ``keys`` (linear
    interpolation between the closest ranks, as ``percentile_cont``), and how many meet
    ``counted``: one pass over the rows."""
    labelled = [k.label(f"k{i}") for i, k in enumerate(keys)]
    flag = _count_if(counted) if counted is not None else literal(0)
    if _dialect(work) == "postgresql":
        return await _spread_postgresql(work, labelled, minutes, where, flag)
    hits = case((counted, 1), else_=0) if counted is not None else literal(0)
    return await _spread_sqlite(work, labelled, minutes, where, hits)


async def _spread_postgresql(
    work: Work,
    keys: list[Any],
    minutes: ColumnElement[Any],
    where: ColumnElement[bool],
    flag: ColumnElement[Any],
) -> dict[tuple[str, ...], Spread]:
    query = (
        select(
            *keys,
            func.count(),
            *(func.percentile_cont(q).within_group(minutes) for q in QUANTILES),
            flag,
        )
        .where(where)
        .group_by(*keys)
    )
    out = {}
    for row in await work.session.execute(query):
        values: tuple[Any, ...] = tuple(row)
        key, (n, p50, p90, hits) = values[:-4], values[-4:]
        out[tuple(str(k) for k in key)] = Spread(int(n), _f(p50), _f(p90), int(hits or 0))
    return out


async def _spread_sqlite(
    work: Work,
    keys: list[Any],
    minutes: ColumnElement[Any],
    where: ColumnElement[bool],
    hits: ColumnElement[Any],
) -> dict[tuple[str, ...], Spread]:
    ranked = (
        select(
            *keys,
            minutes.label("m"),
            func.row_number().over(partition_by=keys, order_by=minutes).label("rn"),
            func.count().over(partition_by=keys).label("n"),
            func.sum(hits).over(partition_by=keys).label("hits"),
        )
        .where(where)
        .subquery()
    )
    ranks = []
    for q in QUANTILES:
        floor = cast((ranked.c.n - 1) * q, Integer)  # truncation: the value is not negative
        ranks += [ranked.c.rn == floor + 1, ranked.c.rn == floor + 2]
    key_cols: list[KeyedColumnElement[Any]] = [ranked.c[f"k{i}"] for i in range(len(keys))]
    query: Select[Any] = select(
        *key_cols, ranked.c.n, ranked.c.hits, ranked.c.rn, ranked.c.m
    ).where(or_(*ranks))
    picked: dict[tuple[str, ...], tuple[int, int, dict[int, float]]] = {}
    for row in await work.session.execute(query):
        *key, n, hit, rn, m = row
        entry = picked.setdefault(tuple(str(k) for k in key), (int(n), int(hit or 0), {}))
        entry[2][int(rn)] = float(m)
    return {
        key: Spread(n, _interpolate(values, n, 0.5), _interpolate(values, n, 0.9), hit)
        for key, (n, hit, values) in picked.items()
    }


def _interpolate(values: dict[int, float], n: int, q: float) -> float | None:
    """The ``q`` quantile from the ranks (1-based) around ``1 + (n - 1) q``."""
    if n == 0:
        return None
    position = (n - 1) * q
    lower = math.floor(position)
    low = values[lower + 1]
    high = values.get(lower + 2, low)
    return low + (high - low) * (position - lower)


def _f(value: Any) -> float | None:
    return None if value is None else float(value)
