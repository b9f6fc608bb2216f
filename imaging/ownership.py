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

import logging
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import literal, select, union_all

from consult.center import Center
from imaging.header import InstanceHeader
from imaging.index import ImagingInstance, ImagingSeries, ImagingStudy

logger = logging.getLogger(__name__)

Key = tuple[str, str]
"""``("study" | "series" | "sop", uid)``."""
Owner = tuple[int | str, ...]
"""A study's institution; a series' institution and study; an instance's and its series."""


class UidConflict(ValueError):
    """A UID of the instance is another institution's, or another study's or series'."""


class DifferentContent(UidConflict):
    """The sender already stored another instance under this SOP Instance UID."""


@dataclass
class _Hold:
    owner: Owner
    count: int


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

    def __init__(self, center: Center) -> None:
        self.center = center
        self._held: dict[Key, _Hold] = {}
        self._released: dict[Key, tuple[Owner, int]] = {}
        """Claims released (their rows committed) while a look-up was under way, by epoch."""
        self._epoch = 0
        self._reading: Counter[int] = Counter()
        """Look-ups in flight, by the epoch they started at."""

    async def claim(self, header: InstanceHeader, institution_id: int) -> None:
        """Grant the instance's UIDs to ``institution_id`` or raise :class:`UidConflict`."""
        wanted = owners(header, institution_id)
        start = self._epoch
        self._reading[start] += 1
        try:
            stored = await self._stored(header)
        finally:
            self._reading[start] -= 1
            if not self._reading[start]:
                del self._reading[start]
        try:
            for key, owner in wanted.items():
                other = stored.get(key) or self._holder(key, start)
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

    def release(self, header: InstanceHeader, institution_id: int) -> None:
        """The claim's rows are committed (or it was given up): the index answers from now."""
        for key in owners(header, institution_id):
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

    async def _stored(self, header: InstanceHeader) -> dict[Key, Owner]:
        """The owners the index records for the instance's UIDs."""
        study = select(
            literal("study"), ImagingStudy.institution_id, literal(""), literal("")
        ).where(ImagingStudy.study_uid == header.study_uid)
        series = (
            select(
                literal("series"), ImagingStudy.institution_id, ImagingStudy.study_uid, literal("")
            )
            .select_from(ImagingSeries)
            .join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
            .where(ImagingSeries.series_uid == header.series_uid)
        )
        sop = (
            select(
                literal("sop"),
                ImagingStudy.institution_id,
                ImagingStudy.study_uid,
                ImagingSeries.series_uid,
            )
            .select_from(ImagingInstance)
            .join(ImagingSeries, ImagingSeries.id == ImagingInstance.series_id)
            .join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
            .where(ImagingInstance.sop_uid == header.sop_uid)
        )
        async with self.center.sessions() as session:
            rows = (await session.execute(union_all(study, series, sop))).all()
        found: dict[Key, Owner] = {}
        for level, institution, study_uid, series_uid in rows:
            uid = {"study": header.study_uid, "series": header.series_uid}.get(
                level, header.sop_uid
            )
            owner: Owner = {
                "study": (institution,),
                "series": (institution, study_uid),
            }.get(level, (institution, study_uid, series_uid))
            found[(level, uid)] = owner
        return found
