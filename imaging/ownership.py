"""Who owns a UID: an instance is stored only where its UIDs are its sender's, or new.

A Study Instance UID belongs to the institution whose study it is; a Series Instance UID to its
study; a SOP Instance UID to its series. An arriving instance whose UIDs are already another
institution's (or another study's, or another series') is refused before its file is written:
it would otherwise overwrite that clinic's file (same study and SOP UIDs, same path) or add to
its study. :meth:`Ownership.claim` decides on the event loop, in the one server process that
writes the index: what the index holds, plus the claims granted here whose rows are not
committed yet; two claims for one new UID from two institutions cannot both be granted, since
the loop checks and records a claim without awaiting in between. A claim is released once its
row is committed (:class:`imaging.ingest.Ingest`), and the index writer checks the same rules
again in its transaction (another server process on the same database).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from consult.center import Center
from imaging.header import InstanceHeader
from imaging.index import ImagingInstance, ImagingSeries, ImagingStudy
from imaging.node_values import UidConflict

logger = logging.getLogger(__name__)

Key = tuple[str, str]
"""``("study" | "series" | "sop", uid)``."""
KNOWN = 100_000
"""Committed study and series owners remembered (the look-up then asks only for the SOP)."""
Owner = tuple[int | str, ...]
"""A study's institution; a series' institution and study; an instance's and its series."""


@dataclass
class _Hold:
    owner: Owner
    count: int


@dataclass
class _Batch:
    keys: set[Key]
    done: asyncio.Future[dict[Key, Owner]]


def owners(header: InstanceHeader, institution_id: int) -> dict[Key, Owner]:
    """The owner each of the instance's UIDs must have (or get) for it to be stored."""
    return {
        ("study", header.study_uid): (institution_id,),
        ("series", header.series_uid): (institution_id, header.study_uid),
        ("sop", header.sop_uid): (institution_id, header.study_uid, header.series_uid),
    }


def explain(key: Key, owner: Owner, other: Owner) -> UidConflict:
    """The refusal of ``key`` wanted by ``owner`` and held by ``other`` (naming no clinic)."""
    level, uid = key
    name = {"study": "Study", "series": "Series", "sop": "SOP"}[level] + " Instance UID"
    if other[0] != owner[0]:
        return UidConflict(f"{name} belongs to another institution's study ({uid})")
    if level == "series":
        return UidConflict(f"{name} belongs to another study ({uid})")
    return UidConflict(f"{name} is already stored in another series ({uid})")


class Ownership:
    """The UID claims of one server process (on its event loop)."""

    def __init__(self, center: Center, known: int = KNOWN) -> None:
        self.center = center
        self._held: dict[Key, _Hold] = {}
        self._released: dict[Key, tuple[Owner, int]] = {}
        """Claims released (their rows committed) while a look-up was under way, by epoch."""
        self._epoch = 0
        self._reading: Counter[int] = Counter()
        """Look-ups in flight, by the epoch they started at."""
        self._known: OrderedDict[Key, Owner] = OrderedDict()
        """Committed owners of studies and series (they never change hands): most recent last."""
        self._known_max = known
        self._lock = asyncio.Lock()
        self._next: _Batch | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._conn: AsyncConnection | None = None

    async def claim(self, header: InstanceHeader, institution_id: int) -> None:
        """Grant the instance's UIDs to ``institution_id`` or raise :class:`UidConflict`."""
        wanted = owners(header, institution_id)
        start = self._epoch
        self._reading[start] += 1
        try:
            # a study or series known here (committed, or held by a claim granted after its
            # own look-up) is not asked again: only the SOP Instance UID, which is new each time
            stored = await self._look_up(
                {
                    k
                    for k in wanted
                    if k[0] == "sop" or (k not in self._known and k not in self._held)
                }
            )
        finally:
            self._reading[start] -= 1
            if not self._reading[start]:
                del self._reading[start]
        try:
            for key, owner in wanted.items():
                other = stored.get(key) or self._known.get(key) or self._holder(key, start)
                if other is not None and other != owner:
                    raise explain(key, owner, other)
        finally:
            self._prune()
        for key, owner in wanted.items():
            hold = self._held.get(key)
            if hold is None:
                self._held[key] = _Hold(owner, 1)
            else:
                hold.count += 1

    def release(self, header: InstanceHeader, institution_id: int, *, committed: bool) -> None:
        """The claim's rows are committed (or it was given up): the index answers from now."""
        for key, owner in owners(header, institution_id).items():
            if committed and key[0] != "sop":
                self._remember(key, owner)
            hold = self._held.get(key)
            if hold is None:
                continue
            hold.count -= 1
            if hold.count <= 0:
                del self._held[key]
                if self._reading:
                    self._epoch += 1
                    self._released.pop(key, None)
                    self._released[key] = (hold.owner, self._epoch)
        self._prune()

    def _remember(self, key: Key, owner: Owner) -> None:
        self._known[key] = owner
        self._known.move_to_end(key)
        while len(self._known) > self._known_max:
            self._known.popitem(last=False)

    def _holder(self, key: Key, start: int) -> Owner | None:
        hold = self._held.get(key)
        if hold is not None:
            return hold.owner
        released = self._released.get(key)
        # released after this look-up started: its row may be newer than what the look-up saw
        if released is not None and released[1] > start:
            return released[0]
        return None

    def _prune(self) -> None:
        oldest = min(self._reading) if self._reading else self._epoch
        while self._released:
            key, (_, epoch) = next(iter(self._released.items()))
            if epoch > oldest:
                break
            del self._released[key]

    async def _look_up(self, keys: set[Key]) -> dict[Key, Owner]:
        """What the index says of ``keys``: claims arriving while a look-up runs wait for it,
        then go to the database together (one round trip a level for all of them)."""
        batch = self._next
        if batch is None:
            batch = self._next = _Batch(set(), asyncio.get_running_loop().create_future())
            task = asyncio.create_task(self._run(batch), name="imaging-ownership")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        batch.keys |= keys
        return await asyncio.shield(batch.done)

    async def _run(self, batch: _Batch) -> None:
        async with self._lock:
            if self._next is batch:
                self._next = None
            try:
                found = await self._stored(batch.keys)
            except Exception as exc:  # every claim of the batch fails (the C-STORE: 0xA700)
                batch.done.set_exception(exc)
                return
            for key, owner in found.items():
                if key[0] != "sop":
                    self._remember(key, owner)
            batch.done.set_result(found)

    async def _stored(self, keys: set[Key]) -> dict[Key, Owner]:
        """The owners the index records for ``keys``."""
        uids: dict[str, list[str]] = {"study": [], "series": [], "sop": []}
        for level, uid in keys:
            uids[level].append(uid)
        found: dict[Key, Owner] = {}
        try:
            session = await self._connection()
            if uids["study"]:
                for uid, institution in await session.execute(
                    select(ImagingStudy.study_uid, ImagingStudy.institution_id).where(
                        ImagingStudy.study_uid.in_(uids["study"])
                    )
                ):
                    found[("study", uid)] = (institution,)
            if uids["series"]:
                for uid, institution, study_uid in await session.execute(
                    select(
                        ImagingSeries.series_uid,
                        ImagingStudy.institution_id,
                        ImagingStudy.study_uid,
                    )
                    .select_from(ImagingSeries)
                    .join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
                    .where(ImagingSeries.series_uid.in_(uids["series"]))
                ):
                    found[("series", uid)] = (institution, study_uid)
            if uids["sop"]:
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
                    .where(ImagingInstance.sop_uid.in_(uids["sop"]))
                ):
                    found[("sop", uid)] = (institution, study_uid, series_uid)
        except BaseException:
            await self.close()  # a fresh connection for the next look-up
            raise
        return found

    async def _connection(self) -> AsyncConnection:
        """The look-ups' own connection, in autocommit (no transaction is held between them,
        and none of a pool checkout's costs is paid per look-up)."""
        if self._conn is None:
            engine = self.center.sessions.kw["bind"]
            self._conn = await engine.execution_options(isolation_level="AUTOCOMMIT").connect()
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                await conn.close()
