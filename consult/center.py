"""The center: the one object every door (HTTP, DICOM, HL7, WebSocket) works through.

:meth:`Center.work` opens a unit of work: one transaction, the caller's principal, the audit
records and events it produces. Audit records commit with the action; denials are recorded in a
transaction of their own (the action's was rolled back); events go out after commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consult.audit import AuditLog
from consult.db import utcnow
from consult.errors import DomainError, Forbidden, NotFound
from consult.events import Event, EventBus, LocalEventBus
from consult.models import AuditRecord
from consult.passwords import Passwords
from consult.policy import Policy
from consult.principal import SYSTEM, Principal
from consult.vocab import Outcome

logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
# -- long ECG reading: checks run before a report is signed (work, report, request) --
SignCheck = Callable[["Work", Any, Any], Awaitable[None]]
# -- HL7 results out: run when a signed or amended report goes to the clinic (work, report,
# request), in the signing's transaction (e.g. queue it for the clinic's HIS) --
ReportHook = Callable[["Work", Any, Any], Awaitable[None]]
# -- modality worklist: run when a request is cancelled or rejected (work, request), in its
# transaction (e.g. discontinue its scheduled procedure step) --
EndHook = Callable[["Work", Any], Awaitable[None]]


@dataclass
class Work:
    """One unit of work: a session in a transaction, acting for ``principal``."""

    session: AsyncSession
    principal: Principal
    center: Center
    client: str = ""
    now: dt.datetime = field(default_factory=utcnow)
    events: list[Event] = field(default_factory=list)
    denials: list[AuditRecord] = field(default_factory=list)
    audits: list[AuditRecord] = field(default_factory=list)
    """Audit records of this unit of work, written just before it commits."""

    @property
    def policy(self) -> Policy:
        return self.center.policy

    def audit(
        self,
        action: str,
        *,
        patient_id: int | None = None,
        obj: tuple[str, Any] | None = None,
        outcome: Outcome = Outcome.SUCCESS,
        **detail: Any,
    ) -> AuditRecord:
        """Record an action in this transaction (it commits or rolls back with it).

        The record is added to the session only at commit: added now, the next query would
        flush it, and on SQLite the write lock would be held from there to the commit.
        """
        record = self._record(action, patient_id, obj, outcome, detail)
        self.audits.append(record)
        return record

    def audit_patients(self, action: str, patient_ids: Iterable[int], **detail: Any) -> None:
        """Record a read that returned several patients: one record per patient (the patient as
        a column, so an audit search by patient finds it), or one record when none was returned."""
        ids = sorted(set(patient_ids))
        for patient_id in ids:
            self.audit(action, patient_id=patient_id, obj=("patient", patient_id), **detail)
        if not ids:
            self.audit(action, found=0, **detail)

    def deny(
        self,
        action: str,
        *,
        patient_id: int | None = None,
        obj: tuple[str, Any] | None = None,
        **detail: Any,
    ) -> None:
        """Record a refused action; it is written even though the transaction rolls back."""
        self.denials.append(self._record(action, patient_id, obj, Outcome.DENIED, detail))

    def emit(self, kind: str, user_ids: set[int] | frozenset[int], **payload: Any) -> None:
        """Queue an event for after commit."""
        if user_ids:
            self.events.append(Event(kind, frozenset(user_ids), payload))

    def _record(
        self,
        action: str,
        patient_id: int | None,
        obj: tuple[str, Any] | None,
        outcome: Outcome,
        detail: dict[str, Any],
    ) -> AuditRecord:
        return AuditRecord(
            at=utcnow(),
            actor_id=self.principal.user_id or None,
            actor=self.principal.username,
            action=action,
            patient_id=patient_id,
            object_type=obj[0] if obj else "",
            object_id=str(obj[1]) if obj else "",
            client=self.client[:64],
            outcome=outcome,
            detail=detail,
        )


class Center:
    """Owns the session factory, the audit chain and the event bus."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        policy: Policy | None = None,
        bus: EventBus | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.sessions = sessions
        self.policy = policy or Policy()
        self.bus: EventBus = bus or LocalEventBus()
        self.audit_log = AuditLog(sessions)
        self.passwords = Passwords(self.policy.password_hashing)
        self.clock = clock
        self.sign_checks: list[SignCheck] = []  # -- long ECG reading --
        self.report_hooks: list[ReportHook] = []  # -- HL7 results out --
        self.end_hooks: list[EndHook] = []  # -- modality worklist: cancelled, rejected --

    @asynccontextmanager
    async def work(self, principal: Principal = SYSTEM, *, client: str = "") -> AsyncIterator[Work]:
        """A unit of work; commits on success, rolls back (keeping denials) on error."""
        session = self.sessions()
        work = Work(session=session, principal=principal, center=self, client=client)
        work.now = self.clock()
        try:
            async with session.begin():
                yield work
                session.add_all(work.audits)
        except (NotFound, Forbidden) as exc:
            await session.close()  # never hold one connection while taking another
            await self._write_denials(work, exc)
            raise
        except DomainError:
            await session.close()
            await self._write_denials(work, None)
            raise
        finally:
            await session.close()
        if work.audits:
            self.audit_log.schedule()
        self.bus.publish(work.events)

    async def _write_denials(self, work: Work, exc: DomainError | None) -> None:
        if not work.denials:
            return
        async with self.sessions() as session, session.begin():
            for record in work.denials:
                if exc is not None:
                    record.detail = {**record.detail, "error": exc.code}
                session.add(record)
        self.audit_log.schedule()
