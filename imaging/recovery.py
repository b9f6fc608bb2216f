"""Start-up recovery: files acknowledged to a sender but not yet in the index when the server
stopped (the index writer batches for up to a fraction of a second) are indexed again.

Only files written around or after the newest indexed instance are looked at, so the scan costs
little on a large archive. A recovered instance whose study is unknown goes through linking like
any other; its sender is no longer known, so it is filed under the county hospital and, without a
matching patient, waits in the reconciliation list: it is never lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

from sqlalchemy import func, select

from consult.center import Center
from consult.models import Institution
from consult.vocab import InstitutionLevel
from imaging.archive import Archive
from imaging.index import ImagingInstance, ImagingStudy
from imaging.ingest import Arrival
from imaging.node_values import UidConflict

logger = logging.getLogger(__name__)

MARGIN = dt.timedelta(minutes=5)


def _candidates(root: Path, cutoff: float | None) -> list[str]:
    """Relative paths of instance files modified after ``cutoff`` (all when None)."""
    found = []
    for path in root.rglob("*.dcm"):
        if cutoff is None or path.stat().st_mtime >= cutoff:
            found.append(path.relative_to(root).as_posix())
    return found


def _header_of(archive: Archive, relative: str) -> tuple[Arrival | None, str]:
    data = archive.files.read(relative)
    try:
        header = archive.receiver.check_file(data).header
    except ValueError as exc:
        return None, str(exc)
    return Arrival(
        header=header,
        path=relative,
        size=len(data),
        institution_id=0,
        device_id=None,
        source="recovery",
    ), ""


async def recover_unindexed(archive: Archive, center: Center) -> int:
    """Index every stored file the index lacks; return how many were recovered."""
    async with center.sessions() as session:
        newest = await session.scalar(select(func.max(ImagingInstance.received_at)))
        county = await session.scalar(
            select(Institution.id).where(Institution.level == InstitutionLevel.COUNTY)
        )
    cutoff = (newest - MARGIN).timestamp() if newest is not None else None
    paths = await asyncio.to_thread(_candidates, archive.files.root, cutoff)
    if not paths or county is None:
        return 0
    async with center.sessions() as session:
        indexed = set(
            await session.scalars(
                select(ImagingInstance.path).where(ImagingInstance.path.in_(paths))
            )
        )
    recovered = 0
    for relative in sorted(set(paths) - indexed):
        arrival, problem = await asyncio.to_thread(_header_of, archive, relative)
        if arrival is None:
            logger.error("stored file %s cannot be indexed: %s", relative, problem)
            continue
        async with center.sessions() as session:
            institution = await session.scalar(
                select(ImagingStudy.institution_id).where(
                    ImagingStudy.study_uid == arrival.header.study_uid
                )
            )
        try:
            await archive.ingest.submit(
                Arrival(
                    header=arrival.header,
                    path=relative,
                    size=arrival.size,
                    institution_id=institution or county,
                    device_id=None,
                    source="recovery",
                )
            )
        except UidConflict:  # set aside by the index writer, with its reason logged
            continue
        recovered += 1
    if recovered:
        logger.warning("recovered %d instance(s) that were stored but not indexed", recovered)
    return recovered
