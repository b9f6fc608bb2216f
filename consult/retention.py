"""Retention: what the law asks the center to keep, and purging what is past it.

* Closed requests (completed, rejected, cancelled) with everything that hangs off them (reports,
  deliveries, ECGs, recordings, alerts, holds) are kept ``report_years`` after they closed.
* Imaging studies are kept ``image_years`` after their last instance arrived.
* Audit records are kept ``log_months``. Only sealed records go, from the start of the chain up
  to a bound (never the head, which the sealer continues from); the purge's own audit record,
  sealed into the chain after them, carries the checkpoint ``audit_through_seq`` /
  ``audit_through_hash`` that :meth:`consult.audit.AuditLog.verify` starts from.

Nothing of a patient with an open request is purged. Rows are found by walking the foreign keys
of the shared metadata from each purged root: a required reference is deleted with its parent, an
optional one is cleared (a referral outlives its request), except the few in ``OWNED`` that
belong to their parent. Files the deleted rows name, and no remaining row names, are removed
after the transaction commits.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from consult.backup import FileRef
from consult.db import Base, import_all_tables
from consult.models import AuditRecord, DiagnosticRequest
from consult.vocab import RequestStatus

logger = logging.getLogger(__name__)

CHUNK = 500
OWNED = frozenset({("notification", "request_id"), ("ecg_reconciliation", "ecg_id")})
"""Optional references that are deleted with their parent rather than cleared."""


@dataclass(frozen=True)
class Retention:
    """How long each kind of record is kept."""

    report_years: int = 15
    image_years: int = 15
    log_months: int = 6

    def __post_init__(self) -> None:
        for name in ("report_years", "image_years", "log_months"):
            if getattr(self, name) < 1:
                raise ValueError(f"retention {name} must be at least 1, not {getattr(self, name)}")


def months_before(now: dt.datetime, months: int) -> dt.datetime:
    """The same moment ``months`` calendar months earlier (the 31st becomes the month's last)."""
    total = now.year * 12 + now.month - 1 - months
    year, month = divmod(total, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


@dataclass
class PurgePlan:
    """What a purge removes (a dry run shows it; a real one deletes exactly it)."""

    rows: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    cleared: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    files: list[str] = field(default_factory=list)
    patients: set[int] = field(default_factory=set)
    audit_through_seq: int = 0
    audit_through_hash: str = ""
    audit_records: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "rows": {name: len(ids) for name, ids in sorted(self.rows.items()) if ids},
            "files": len(self.files),
            "patients": sorted(self.patients),
            "audit_records": self.audit_records,
            "audit_through_seq": self.audit_through_seq,
            "audit_through_hash": self.audit_through_hash,
        }

    @property
    def empty(self) -> bool:
        return not any(self.rows.values()) and not self.audit_records


def _tables() -> dict[str, Table]:
    import_all_tables()
    return dict(Base.metadata.tables)


def _chunks(ids: Iterable[Any]) -> Iterable[list[Any]]:
    items = sorted(ids)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def _collect(session: AsyncSession, plan: PurgePlan, table: Table, ids: set[int]) -> None:
    """Add ``ids`` of ``table`` and every row that cannot outlive them to the plan."""
    new = ids - plan.rows[table.name]
    if not new:
        return
    plan.rows[table.name] |= new
    for child in _tables().values():
        for fk in child.foreign_keys:
            if fk.column.table is not table:
                continue
            column = fk.parent
            if column.nullable and (child.name, column.name) not in OWNED:
                plan.cleared[(child.name, column.name)] |= new
                continue
            found: set[int] = set()
            for chunk in _chunks(new):
                found.update(await session.scalars(select(child.c.id).where(column.in_(chunk))))
            await _collect(session, plan, child, found)


def _patients_with_open_requests() -> Any:
    open_states = [s for s in RequestStatus if s.is_open]
    return select(DiagnosticRequest.patient_id).where(DiagnosticRequest.status.in_(open_states))


async def _closed_requests(session: AsyncSession, before: dt.datetime) -> set[int]:
    closed_at = func.coalesce(DiagnosticRequest.completed_at, DiagnosticRequest.updated_at)
    rows = await session.scalars(
        select(DiagnosticRequest.id).where(
            DiagnosticRequest.status.in_([s for s in RequestStatus if not s.is_open]),
            closed_at < before,
            DiagnosticRequest.patient_id.not_in(_patients_with_open_requests()),
        )
    )
    return set(rows)


async def _old_studies(session: AsyncSession, before: dt.datetime) -> set[int]:
    study = _tables().get("imaging_study")
    if study is None:
        return set()
    open_requests = select(DiagnosticRequest.id).where(
        DiagnosticRequest.status.in_([s for s in RequestStatus if s.is_open])
    )
    rows: Iterable[int] = await session.scalars(
        select(study.c.id).where(
            study.c.updated_at < before,
            (study.c.request_id.is_(None)) | study.c.request_id.not_in(open_requests),
            (study.c.patient_id.is_(None))
            | study.c.patient_id.not_in(_patients_with_open_requests()),
        )
    )
    return set(rows)


async def _audit_bound(session: AsyncSession, plan: PurgePlan, before: dt.datetime) -> None:
    sealed = AuditRecord.seq.is_not(None)
    head = await session.scalar(select(func.max(AuditRecord.seq)).where(sealed))
    lowest = await session.scalar(select(func.min(AuditRecord.seq)).where(sealed))
    if head is None or lowest is None:
        return
    first_kept = await session.scalar(
        select(func.min(AuditRecord.seq)).where(sealed, AuditRecord.at >= before)
    )
    through = min((first_kept - 1) if first_kept is not None else head, head - 1)
    if through < lowest:
        return
    plan.audit_through_seq = through
    plan.audit_through_hash = str(
        await session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == through))
    )
    plan.audit_records = through - lowest + 1


async def _named(
    session: AsyncSession, ref: FileRef, ids: set[Any], *, by: str
) -> list[tuple[int, str]]:
    """(row id, value) of ``ref``'s rows: those with ``ids`` (by="id") or those naming one of
    the values ``ids`` holds (by="value")."""
    table = _tables()[ref.table]
    column = table.c[ref.column]
    key = table.c.id if by == "id" else column
    found: list[tuple[int, str]] = []
    for chunk in _chunks(ids):
        rows = await session.execute(select(table.c.id, column).where(key.in_(chunk)))
        found += [(row_id, str(value)) for row_id, value in rows.tuples() if value]
    return found


async def _files(session: AsyncSession, plan: PurgePlan, refs: Iterable[FileRef]) -> None:
    """The files the purged rows name that no remaining row names."""
    refs = [ref for ref in refs if ref.table in _tables()]
    candidates: dict[str, set[str]] = defaultdict(set)  # store -> values
    for ref in refs:
        rows = await _named(session, ref, plan.rows.get(ref.table, set()), by="id")
        candidates[ref.store].update(value for _, value in rows)
    kept: set[tuple[str, str]] = set()
    for ref in refs:
        values = candidates.get(ref.store, set())
        gone = plan.rows.get(ref.table, set())
        for row_id, value in await _named(session, ref, values, by="value"):
            if row_id not in gone:
                kept.add((ref.store, value))
    files = set()
    for ref in refs:
        for _, value in await _named(session, ref, plan.rows.get(ref.table, set()), by="id"):
            if (ref.store, value) not in kept:
                files.add(ref.relative(value))
    plan.files = sorted(files)


async def plan_purge(
    session: AsyncSession, retention: Retention, now: dt.datetime, refs: Iterable[FileRef]
) -> PurgePlan:
    """What is past retention at ``now`` (read in the caller's transaction)."""
    tables = _tables()
    plan = PurgePlan()
    reports_before = months_before(now, 12 * retention.report_years)
    images_before = months_before(now, 12 * retention.image_years)
    requests = await _closed_requests(session, reports_before)
    await _collect(session, plan, tables["diagnostic_request"], requests)
    if "imaging_study" in tables:
        await _collect(
            session, plan, tables["imaging_study"], await _old_studies(session, images_before)
        )
    if requests:
        plan.patients.update(
            await session.scalars(
                select(DiagnosticRequest.patient_id).where(DiagnosticRequest.id.in_(requests))
            )
        )
    await _audit_bound(session, plan, months_before(now, retention.log_months))
    await _files(session, plan, refs)
    return plan


async def apply_purge(session: AsyncSession, plan: PurgePlan) -> None:
    """Delete what ``plan`` holds (in the caller's transaction; files are left to the caller)."""
    tables = _tables()
    for (name, column), ids in plan.cleared.items():
        table = tables[name]
        for chunk in _chunks(ids):
            await session.execute(
                update(table).where(table.c[column].in_(chunk)).values({column: None})
            )
    for table in reversed(Base.metadata.sorted_tables):
        for chunk in _chunks(plan.rows.get(table.name, set())):
            await session.execute(delete(table).where(table.c.id.in_(chunk)))
    if plan.audit_records:
        await session.execute(
            delete(AuditRecord).where(
                AuditRecord.seq.is_not(None), AuditRecord.seq <= plan.audit_through_seq
            )
        )


def remove_files(data_dir: Path, files: Iterable[str]) -> int:
    """Remove purged files (paths under ``data_dir``); return how many were there."""
    removed = 0
    for relative in files:
        path = data_dir / relative
        if path.is_file():
            path.unlink()
            removed += 1
    return removed
