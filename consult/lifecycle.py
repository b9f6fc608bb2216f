"""One lifecycle mechanism: a transition table per entity and one logged setter.

Every stateful row of the center (requests, reports, referrals, lab orders, specimens, results)
declares its table of allowed transitions in its own module as a :class:`Lifecycle`; the only
place that writes a ``status`` attribute is :meth:`Lifecycle.set` (or, when two callers may race
for the same transition, :meth:`Lifecycle.claim`, a compare-and-set in the database). A test scans
the code base for any other ``.status =`` write.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from consult.errors import Conflict, InvalidTransition

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=StrEnum)


def _by_id(obj: Any) -> str:
    return str(getattr(obj, "id", "?"))


class Lifecycle(Generic[S]):
    """The allowed transitions of one entity's ``status`` and the one setter that follows them.

    Parameters
    ----------
    entity:
        The name used in logs and errors ("request", "lab order").
    table:
        For every state, the states it may move to. Every member of the enum must be a key (a
        final state maps to nothing).
    label:
        How an object is named in logs and errors (default: its ``id``).
    stamp:
        An attribute set to ``now`` on each transition (``updated_at``), or None.
    same_is_noop:
        Setting the current state again is accepted silently (for states derived from others,
        like a lab order following its specimens); otherwise it is an invalid transition.
    """

    def __init__(
        self,
        entity: str,
        table: Mapping[S, Iterable[S]],
        *,
        label: Callable[[Any], str] = _by_id,
        stamp: str | None = "updated_at",
        same_is_noop: bool = False,
    ) -> None:
        self.entity = entity
        self.table: dict[S, frozenset[S]] = {k: frozenset(v) for k, v in table.items()}
        states = {type(k) for k in self.table}
        if len(states) != 1:
            raise ValueError(f"{entity}: the table must use one state enum")
        enum = next(iter(states))
        missing = set(enum) - set(self.table)
        if missing:
            raise ValueError(f"{entity}: states without a row: {sorted(missing)}")
        self.label, self.stamp, self.same_is_noop = label, stamp, same_is_noop

    def allows(self, old: S, new: S) -> bool:
        return new in self.table[old] or (self.same_is_noop and old == new)

    def check(self, obj: Any, new: S) -> S:
        """Raise :class:`InvalidTransition` unless ``obj`` may go to ``new``; return its state."""
        old: S = obj.status
        if not self.allows(old, new):
            raise InvalidTransition(
                f"{self.entity} {self.label(obj)} cannot go from {old} to {new}"
            )
        return old

    def set(self, obj: Any, new: S, now: dt.datetime | None = None) -> bool:
        """Move ``obj`` to ``new``: check the table, log, stamp. Return False for a no-op."""
        old = self.check(obj, new)
        if old == new:
            return False
        logger.info("%s %s state %s -> %s", self.entity, self.label(obj), old, new)
        obj.status = new
        if self.stamp is not None and now is not None:
            setattr(obj, self.stamp, now)
        return True

    async def claim(
        self,
        session: AsyncSession,
        obj: Any,
        new: S,
        now: dt.datetime | None = None,
        *,
        code: str = "state_changed",
        message: str = "",
        **values: Any,
    ) -> None:
        """Move ``obj`` to ``new`` only if the database still holds the state read: a guarded
        ``UPDATE ... WHERE id = :id AND status = :old`` that one of two racing callers wins.

        The loser gets :class:`Conflict` with ``code`` (on SQLite too, where the loser's write
        fails because its snapshot is stale). ``values`` are set in the same statement.
        """
        old = self.check(obj, new)
        model = type(obj)
        extra = dict(values)
        if self.stamp is not None and now is not None:
            extra[self.stamp] = now
        lost = message or f"{self.entity} {self.label(obj)} was changed by someone else"
        try:
            result = await session.execute(
                update(model)
                .where(model.id == obj.id, model.status == old)
                .values(status=new, **extra)
                .execution_options(synchronize_session=False)
            )
        except OperationalError as exc:  # SQLite: the other writer committed after our read
            if "locked" not in str(exc):
                raise
            raise Conflict(lost, code=code) from None
        if result.rowcount != 1:  # type: ignore[attr-defined]
            await session.refresh(obj)
            raise Conflict(lost, code=code)
        logger.info("%s %s state %s -> %s", self.entity, self.label(obj), old, new)
        await session.refresh(obj)
