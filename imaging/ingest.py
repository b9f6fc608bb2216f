"""The index writer: instances whose files are on disk enter the index in batches.

Association threads (and STOW requests) hand each stored file to :meth:`Ingest.submit`; one task
on the event loop drains the queue and writes everything pending in one transaction (new studies
are linked to their patient and request in the same unit of work). With several associations at
once, a batch holds many instances; a failing batch is retried one instance at a time so that one
bad instance does not fail its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from consult.center import Center, Work
from consult.db import utcnow
from consult.principal import SYSTEM
from imaging import linking
from imaging.files import FileStore
from imaging.header import InstanceHeader
from imaging.index import (
    ImagingInstance,
    ImagingPatient,
    ImagingReconciliation,
    ImagingSeries,
    ImagingStudy,
)
from imaging.ownership import Key, Owner, Ownership, UidConflict, explain, owners

logger = logging.getLogger(__name__)

MAX_BATCH = 256
BATCH_WINDOW = 0.2
"""Seconds the writer lets arrivals gather before a transaction (unless someone is waiting)."""


CONCURRENT_WRITER_ATTEMPTS = 5
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected


def concurrent_writer(exc: DBAPIError) -> bool:
    """Whether ``exc`` is what a concurrent writer of the same rows causes (worth a retry)."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(exc, IntegrityError) or code in RETRYABLE_SQLSTATES


@dataclass(frozen=True)
class Arrival:
    """A file written to the store, waiting for its index row."""

    header: InstanceHeader
    path: str
    size: int
    institution_id: int
    device_id: int | None
    source: str
    """Who sent it, for the audit trail (``dicom:AET`` or ``stow:username``)."""
    claimed: bool = False
    """Its UIDs were claimed (:class:`imaging.ownership.Ownership`): release once indexed."""
    written: bool = True
    """Its file was written for this arrival (False: an identical file was already there)."""


@dataclass(frozen=True)
class Stored:
    sop_uid: str
    study_uid: str
    study_pk: int
    duplicate: bool
    series_uid: str = ""
    sop_class_uid: str = ""


Pending = tuple[Arrival, "asyncio.Future[Stored] | None"]
Outcome = Stored | UidConflict


class Ingest:
    """The one writer of the index (per process).

    Two ways in: :meth:`submit` waits for the commit (STOW-RS answers per instance);
    :meth:`put_nowait` does not (the DICOM node acknowledges a C-STORE once the file is durable,
    and the index follows within a batch). :meth:`flush` waits until everything queued before
    it is committed: queries call it first, so that they see every acknowledged instance.
    """

    def __init__(self, center: Center, files: FileStore | None = None) -> None:
        self.center = center
        self.files = files
        """Where a refused arrival's file is moved aside (kept, out of the archive)."""
        self.ownership = Ownership(center)
        self.on_indexed: Callable[[list[tuple[Arrival, Stored]]], Awaitable[None]] | None = None
        """Called after each committed batch (the ECG center takes its waveforms from here)."""
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="imaging-ingest")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush(), 30)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.ownership.close()

    async def submit(self, arrival: Arrival) -> Stored:
        """Queue ``arrival`` and wait until its index row is committed."""
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((arrival, future))
        self._hurry.set()
        return await future

    def put_nowait(self, arrival: Arrival) -> None:
        """Queue ``arrival`` without waiting (call on the loop: ``call_soon_threadsafe``)."""
        self._queue.put_nowait((arrival, None))

    async def flush(self) -> None:
        self._hurry.set()
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if not self._hurry.is_set():
                # Let a stream of arrivals gather: one transaction for many instances keeps
                # the loop's CPU (and the GIL) free for the association threads.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), BATCH_WINDOW)
            self._hurry.clear()
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write_or_split(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write_or_split(self, batch: list[Pending]) -> None:
        try:
            results = await self._write([a for a, _ in batch])
        except Exception as exc:  # the writer's boundary: never let the task die
            if len(batch) > 1:
                for one in batch:
                    await self._write_or_split([one])
                return
            arrival, future = batch[0]
            self._release([arrival], committed=False)
            logger.exception(
                "indexing %s failed; its file stays at %s", arrival.header.sop_uid, arrival.path
            )
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        for (arrival, _), result in zip(batch, results, strict=True):
            self._release([arrival], committed=not isinstance(result, UidConflict))
        indexed: list[tuple[Arrival, Stored]] = []
        for (arrival, future), result in zip(batch, results, strict=True):
            if isinstance(result, UidConflict):
                # answered before (a C-STORE), or found on disk at start-up: keep the file
                self._refused(arrival, result, acknowledged=future is None or not arrival.claimed)
            else:
                indexed.append((arrival, result))
            if future is None or future.done():
                continue
            if isinstance(result, UidConflict):
                future.set_exception(result)
            else:
                future.set_result(result)
        if self.on_indexed is not None and indexed:
            try:
                await self.on_indexed(indexed)
            except Exception:  # a listener's failure must not stop the index writer
                logger.exception("after-index listener failed")

    def _release(self, arrivals: list[Arrival], *, committed: bool) -> None:
        for arrival in arrivals:
            if arrival.claimed:
                self.ownership.release(arrival.header, arrival.institution_id, committed=committed)

    def _refused(self, arrival: Arrival, conflict: UidConflict, *, acknowledged: bool) -> None:
        """An arrival the index refused (its UIDs are another's): its file, if written for it,
        leaves the archive; kept aside when its sender was already answered success."""
        if not arrival.written or self.files is None:
            logger.warning("%s refused: %s", arrival.source, conflict)
            return
        if not acknowledged:
            self.files.remove(arrival.path)
            return
        aside = self.files.set_aside(arrival.path)
        logger.error(
            "%s: %s (acknowledged: another server granted it at the same time); its file is "
            "kept at %s for reconciliation",
            arrival.source,
            conflict,
            aside,
        )

    async def _write(self, arrivals: list[Arrival]) -> list[Outcome]:
        for attempt in range(1, CONCURRENT_WRITER_ATTEMPTS + 1):
            try:
                async with self.center.work(SYSTEM, client=arrivals[0].source[:64]) as work:
                    return await write_batch(work, arrivals)
            except DBAPIError as exc:
                # Another node indexed the same study, series or instance between our look-up
                # and our insert (or the two transactions deadlocked on the counters); the next
                # attempt finds the other node's rows and updates them instead.
                if not concurrent_writer(exc) or attempt == CONCURRENT_WRITER_ATTEMPTS:
                    raise
                logger.info("index rows written concurrently by another node; retrying")
        raise AssertionError("unreachable")


async def write_batch(work: Work, arrivals: list[Arrival]) -> list[Outcome]:
    """Index ``arrivals`` (files already on disk) in ``work``'s transaction.

    An arrival whose UIDs the index (or an earlier arrival of the batch) gives to another
    institution, study or series is not indexed: its outcome is the :class:`UidConflict`.
    """
    held = await _stored_owners(work, arrivals)
    outcomes: list[Outcome | None] = []
    accepted: list[Arrival] = []
    for arrival in arrivals:
        conflict = _conflict(held, arrival)
        if conflict is None:
            for key, owner in owners(arrival.header, arrival.institution_id).items():
                held.setdefault(key, owner)
            accepted.append(arrival)
        outcomes.append(conflict)
    stored = iter(await _index(work, accepted) if accepted else [])
    return [outcome if outcome is not None else next(stored) for outcome in outcomes]


async def _stored_owners(work: Work, arrivals: list[Arrival]) -> dict[Key, Owner]:
    """What the index says owns the arrivals' study, series and SOP Instance UIDs."""
    session = work.session
    held: dict[Key, Owner] = {}
    for uid, institution in await session.execute(
        select(ImagingStudy.study_uid, ImagingStudy.institution_id).where(
            ImagingStudy.study_uid.in_({a.header.study_uid for a in arrivals})
        )
    ):
        held[("study", uid)] = (institution,)
    for uid, institution, study_uid in await session.execute(
        select(ImagingSeries.series_uid, ImagingStudy.institution_id, ImagingStudy.study_uid)
        .select_from(ImagingSeries)
        .join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
        .where(ImagingSeries.series_uid.in_({a.header.series_uid for a in arrivals}))
    ):
        held[("series", uid)] = (institution, study_uid)
    for uid, institution, study_uid, series_uid in await session.execute(
        select(
            ImagingInstance.sop_uid,
            ImagingStudy.institution_id,
            ImagingStudy.study_uid,
            ImagingSeries.series_uid,
        )
        .select_from(ImagingInstance)
        .join(ImagingSeries, ImagingSeries.id == ImagingInstance.series_id)
        .join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
        .where(ImagingInstance.sop_uid.in_({a.header.sop_uid for a in arrivals}))
    ):
        held[("sop", uid)] = (institution, study_uid, series_uid)
    return held


def _conflict(held: dict[Key, Owner], arrival: Arrival) -> UidConflict | None:
    for key, owner in owners(arrival.header, arrival.institution_id).items():
        other = held.get(key)
        if other is not None and other != owner:
            return explain(key, owner, other)
    return None


async def _index(work: Work, arrivals: list[Arrival]) -> list[Stored]:
    """Index ``arrivals``, whose UIDs are theirs (checked by :func:`write_batch`)."""
    session = work.session
    study_uids = {a.header.study_uid for a in arrivals}
    studies: dict[str, tuple[int, str]] = {
        uid: (pk, modalities)
        for uid, pk, modalities in (
            await session.execute(
                select(ImagingStudy.study_uid, ImagingStudy.id, ImagingStudy.modalities).where(
                    ImagingStudy.study_uid.in_(study_uids)
                )
            )
        )
    }
    for arrival in arrivals:
        if arrival.header.study_uid not in studies:
            pk = await _new_study(work, arrival)
            studies[arrival.header.study_uid] = (pk, "")
    series_uids = {a.header.series_uid for a in arrivals}
    series: dict[str, int] = {
        uid: pk
        for uid, pk in await session.execute(
            select(ImagingSeries.series_uid, ImagingSeries.id).where(
                ImagingSeries.series_uid.in_(series_uids)
            )
        )
    }
    new_series: Counter[int] = Counter()
    study_modalities: dict[int, set[str]] = {}
    for arrival in arrivals:
        h = arrival.header
        if h.series_uid in series:
            continue
        study_pk, modalities = studies[h.study_uid]
        row = ImagingSeries(
            series_uid=h.series_uid,
            study_id=study_pk,
            modality=h.modality,
            series_number=h.series_number,
            description=h.series_description,
            body_part=h.body_part,
            series_date=h.series_date,
            series_time=h.series_time,
            num_instances=0,
        )
        session.add(row)
        await session.flush()
        series[h.series_uid] = row.id
        new_series[study_pk] += 1
        known = study_modalities.setdefault(study_pk, set(filter(None, modalities.split("\\"))))
        if h.modality:
            known.add(h.modality)
    existing: dict[str, int] = {
        uid: pk
        for uid, pk in await session.execute(
            select(ImagingInstance.sop_uid, ImagingInstance.id).where(
                ImagingInstance.sop_uid.in_([a.header.sop_uid for a in arrivals])
            )
        )
    }
    now = utcnow()
    rows: dict[str, dict[str, Any]] = {}
    per_series: Counter[int] = Counter()
    per_study: Counter[int] = Counter()
    results = []
    for arrival in arrivals:
        h = arrival.header
        study_pk = studies[h.study_uid][0]
        duplicate = h.sop_uid in existing or h.sop_uid in rows
        values = {
            "sop_uid": h.sop_uid,
            "series_id": series[h.series_uid],
            "sop_class_uid": h.sop_class_uid,
            "instance_number": h.instance_number,
            "transfer_syntax": h.transfer_syntax,
            "path": arrival.path,
            "size": arrival.size,
            "rows": h.rows,
            "columns": h.columns,
            "frames": h.frames,
            "received_at": now,
        }
        if h.sop_uid in existing and not arrival.written:
            pass  # a re-send that found its file: the row stands as it is
        elif h.sop_uid in existing:
            values.pop("series_id")
            await session.execute(
                update(ImagingInstance)
                .where(ImagingInstance.id == existing[h.sop_uid])
                .values(**values)
            )
        elif not duplicate:
            per_series[series[h.series_uid]] += 1
            per_study[study_pk] += 1
        rows[h.sop_uid] = values
        results.append(
            Stored(h.sop_uid, h.study_uid, study_pk, duplicate, h.series_uid, h.sop_class_uid)
        )
    fresh = [v for uid, v in rows.items() if uid not in existing]
    if fresh:  # a Core executemany: the ORM's bulk path adds bookkeeping per row
        await session.execute(insert(cast(Table, ImagingInstance.__table__)), fresh)
    for series_pk, count in per_series.items():
        await session.execute(
            update(ImagingSeries)
            .where(ImagingSeries.id == series_pk)
            .values(num_instances=ImagingSeries.num_instances + count)
        )
    for study_pk in set(per_study) | set(new_series):
        values = {
            "num_instances": ImagingStudy.num_instances + per_study[study_pk],
            "num_series": ImagingStudy.num_series + new_series[study_pk],
            "updated_at": now,
        }
        if study_pk in study_modalities:
            values["modalities"] = "\\".join(sorted(study_modalities[study_pk]))[:64]
        await session.execute(
            update(ImagingStudy).where(ImagingStudy.id == study_pk).values(**values)
        )
    return results


async def _new_study(work: Work, arrival: Arrival) -> int:
    """Create the patient (as the institution names it) and the study; link or reconcile."""
    h = arrival.header
    session = work.session
    imaging_patient = await session.scalar(
        select(ImagingPatient).where(
            ImagingPatient.institution_id == arrival.institution_id,
            ImagingPatient.dicom_patient_id == h.patient_id,
        )
    )
    link = await linking.link_study(work, h, arrival.institution_id)
    if imaging_patient is None:
        imaging_patient = ImagingPatient(
            institution_id=arrival.institution_id,
            dicom_patient_id=h.patient_id,
            name=h.patient_name,
            birth_date=h.birth_date,
            sex=h.sex,
            patient_id=link.patient_id,
        )
        session.add(imaging_patient)
        await session.flush()
    elif imaging_patient.patient_id is None and link.patient_id is not None:
        imaging_patient.patient_id = link.patient_id
    study = ImagingStudy(
        study_uid=h.study_uid,
        imaging_patient_id=imaging_patient.id,
        patient_id=link.patient_id if not link.problem else None,
        request_id=link.request_id,
        institution_id=arrival.institution_id,
        device_id=arrival.device_id,
        study_date=h.study_date,
        study_time=h.study_time,
        accession_number=h.accession_number,
        study_id=h.study_id,
        description=h.study_description,
        referring_physician=h.referring_physician,
        modalities="",
        num_series=0,
        num_instances=0,
        received_at=work.now,
        updated_at=work.now,
    )
    session.add(study)
    await session.flush()
    if link.problem:
        session.add(
            ImagingReconciliation(
                study_id=study.id,
                reason=link.problem[:200],
                reason_code=link.reason.value if link.reason else "",
                opened_at=work.now,
            )
        )
        logger.warning("study %s waits for reconciliation: %s", h.study_uid, link.problem)
    work.audit(
        "imaging.study.receive",
        patient_id=study.patient_id,
        obj=("study", study.id),
        source=arrival.source,
        request_id=link.request_id,
        reconcile=link.reason.value if link.reason else None,
    )
    return study.id
