"""The audit log: who did what to which patient, when, from where, and with what outcome.

Records are written inside the same transaction as the action they describe (no action without its
record). After commit they are *sealed* into a hash chain in commit order: each sealed record gets
the next ``seq``, the previous record's hash, and
``hash = SHA-256(prev_hash || canonical JSON of the record)``. Editing, deleting or reordering a
sealed record breaks the chain, which :meth:`AuditLog.verify` reports.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass

from sqlalchemy import Row, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consult.models import AuditRecord

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
CHECKPOINT_ACTION = "retention.purge"
"""The audit record of a purge: its detail ``audit_through_seq`` / ``audit_through_hash`` say
where the purged start of the chain ended, and verification starts there."""
SEAL_BATCH = 500
_PG_LOCK_KEY = 0x7E1EC0A7  # advisory lock that serialises sealing across nodes


def record_digest(record: AuditRecord, prev_hash: str, seq: int) -> str:
    """The chain hash of ``record`` placed at ``seq`` after ``prev_hash``."""
    body = {
        "seq": seq,
        "at": record.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_id": record.actor_id,
        "actor": record.actor,
        "action": record.action,
        "patient_id": record.patient_id,
        "object_type": record.object_type,
        "object_id": record.object_id,
        "client": record.client,
        "outcome": str(record.outcome),
        "detail": record.detail,
    }
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What :meth:`AuditLog.verify` found."""

    checked: int
    unsealed: int
    first_bad_seq: int | None
    problem: str

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


class AuditLog:
    """Seals and verifies the audit hash chain."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._sealer: asyncio.Task[None] | None = None

    def schedule(self) -> None:
        """Seal soon, in the background: commits coalesce into one sealing pass."""
        self._dirty.set()
        if self._sealer is None or self._sealer.done():
            self._sealer = asyncio.get_running_loop().create_task(self._seal_while_dirty())

    async def _seal_while_dirty(self) -> None:
        while self._dirty.is_set():
            self._dirty.clear()
            try:
                await self.seal()
            except Exception:  # a background task's boundary: the next commit retries
                logger.exception("sealing the audit chain failed")
                return

    async def drain(self) -> None:
        """Wait for the background sealer and seal anything left (at shutdown, in tests)."""
        if self._sealer is not None:
            await asyncio.shield(self._sealer)
        await self.seal()

    async def seal(self) -> int:
        """Chain every unsealed record, in id order; return how many were sealed."""
        sealed = 0
        async with self._lock:
            while True:
                n = await self._seal_batch()
                sealed += n
                if n < SEAL_BATCH:
                    return sealed

    async def _seal_batch(self) -> int:
        async with self._sessions() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            head = await _last_sealed(session)
            seq: int = (head[0] or 0) if head else 0
            prev: str = (head[1] or GENESIS) if head else GENESIS
            rows = await session.scalars(
                select(AuditRecord)
                .where(AuditRecord.seq.is_(None))
                .order_by(AuditRecord.id)
                .limit(SEAL_BATCH)
            )
            count = 0
            for record in rows:
                seq += 1
                record.seq = seq
                record.prev_hash = prev
                record.hash = prev = record_digest(record, prev, seq)
                count += 1
            return count

    async def head(self) -> tuple[int, str] | None:
        """The last sealed record's ``(seq, hash)``; ``None`` while nothing is sealed."""
        async with self._sessions() as session:
            row = await _last_sealed(session)
        return (row[0] or 0, row[1] or "") if row else None

    async def hash_at(self, seq: int) -> str | None:
        """The chain hash of the record sealed at ``seq``; ``None`` if there is none."""
        async with self._sessions() as session:
            return await session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == seq))

    async def verify(self) -> ChainReport:
        """Walk the chain from the start and recompute every hash."""
        async with self._sessions() as session:
            unsealed = await session.scalar(
                select(func.count()).select_from(AuditRecord).where(AuditRecord.seq.is_(None))
            )
            prev, expected_seq = await _chain_start(session)
            checked = 0
            stream = await session.stream_scalars(
                select(AuditRecord).where(AuditRecord.seq.is_not(None)).order_by(AuditRecord.seq)
            )
            async for record in stream:
                problem = _check(record, prev, expected_seq)
                if problem:
                    return ChainReport(checked, unsealed or 0, record.seq, problem)
                prev = record.hash or ""
                expected_seq += 1
                checked += 1
        return ChainReport(checked, unsealed or 0, None, "")


async def _chain_start(session: AsyncSession) -> tuple[str, int]:
    """The hash before the first kept record, and its seq: the genesis, or the checkpoint that
    a purge recorded (itself a sealed record of the chain, verified with the rest)."""
    lowest = await session.scalar(
        select(func.min(AuditRecord.seq)).where(AuditRecord.seq.is_not(None))
    )
    if lowest is None or lowest <= 1:
        return GENESIS, 1
    checkpoints = await session.scalars(
        select(AuditRecord)
        .where(AuditRecord.action == CHECKPOINT_ACTION, AuditRecord.seq > lowest)
        .order_by(AuditRecord.seq.desc())
    )
    for record in checkpoints:
        detail = record.detail or {}
        if detail.get("audit_through_seq") == lowest - 1 and detail.get("audit_through_hash"):
            return str(detail["audit_through_hash"]), lowest
    return GENESIS, 1  # no checkpoint: the walk reports the records missing before ``lowest``


async def _last_sealed(session: AsyncSession) -> Row[int | None, str | None] | None:
    """``(seq, hash)`` of the last sealed record, or ``None``."""
    return (
        await session.execute(
            select(AuditRecord.seq, AuditRecord.hash)
            .where(AuditRecord.seq.is_not(None))
            .order_by(AuditRecord.seq.desc())
            .limit(1)
        )
    ).first()


def _check(record: AuditRecord, prev: str, expected_seq: int) -> str:
    if record.seq != expected_seq:
        return f"record missing before seq {record.seq} (expected {expected_seq})"
    if record.prev_hash != prev:
        return f"seq {record.seq}: previous hash does not match the chain"
    assert record.seq is not None
    if record.hash != record_digest(record, prev, record.seq):
        return f"seq {record.seq}: content does not match its hash (record {record.id} edited)"
    return ""


async def search(
    session: AsyncSession,
    *,
    patient_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditRecord]:
    """Audit records matching the filters, newest first."""
    query = select(AuditRecord)
    if patient_id is not None:
        query = query.where(AuditRecord.patient_id == patient_id)
    if actor:
        query = query.where(AuditRecord.actor == actor)
    if action:
        query = query.where(AuditRecord.action.like(f"{action}%"))
    if outcome:
        query = query.where(AuditRecord.outcome == outcome)
    if since is not None:
        query = query.where(AuditRecord.at >= since)
    if until is not None:
        query = query.where(AuditRecord.at < until)
    query = query.order_by(AuditRecord.id.desc()).limit(limit).offset(offset)
    return list(await session.scalars(query))
