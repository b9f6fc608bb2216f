"""What a co-view resource names, resolved through the center that holds it, and granted to
the room (the rule itself lives in :mod:`consult.coview`; this only dispatches by kind)."""

from __future__ import annotations

import logging

from consult import coview
from consult import rooms as rooms_
from consult.center import Center, Work
from consult.errors import DomainError
from consult.models import DiagnosticRequest
from ecg.pipeline import shareable_ecg
from imaging.query import shareable_series

logger = logging.getLogger(__name__)


async def _patient_of(work: Work, item: coview.Item) -> int:
    if item.kind == coview.ECG:
        return await shareable_ecg(work, int(item.key))
    return await shareable_series(work, item.study_uid, item.key)


async def share(center: Center, request_id: int, user_id: int, resource: str) -> bool:
    """Grant the room of ``request_id`` read access to ``resource`` shared by ``user_id``, if
    that user may read it and it is the consult's patient's; returns whether it was granted."""
    item = coview.parse_resource(resource)
    if item is None:
        return False
    async with center.work(client="room") as work:
        sharer = await rooms_.active_principal(work, user_id)
        request = await work.session.get(DiagnosticRequest, request_id)
        if sharer is None or request is None:
            return False
        work.principal = sharer
        try:
            patient_id = await _patient_of(work, item)
        except DomainError as exc:
            logger.info("room %s: %s may not share %s: %s", request_id, user_id, resource, exc)
            return False
        if patient_id != request.patient_id:
            work.deny("room.share", obj=("request", request_id), item=resource[:100])
            return False
        await coview.grant(work, request_id, item, patient_id, sharer)
    return True
