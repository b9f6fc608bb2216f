"""FHIR search parameters: ids, references, dates with prefixes, paging.

Every parser raises :class:`~consult.errors.InvalidInput` naming the parameter, which the web layer
answers with a 400 OperationOutcome.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from consult import jsonguard
from consult.errors import InvalidInput

DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_OFFSET = 10_000
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DIGITS = re.compile(r"^[0-9]{1,19}$")


def bad_param(param: str, value: str, why: str) -> InvalidInput:
    return InvalidInput(f"参数 {param} 无效 / invalid {param} {value!r}: {why}", field=param)


def parse_id(value: str, param: str = "id") -> int:
    """A resource id: our ids are positive integers within 64 bits."""
    if not _DIGITS.match(value) or not 0 < int(value) <= jsonguard.INT_MAX:
        raise bad_param(param, value, "an id is a positive integer")
    return int(value)


def parse_reference(value: str, resource_type: str, param: str) -> int:
    """``123`` or ``Patient/123`` (a relative reference to ``resource_type``)."""
    prefix = f"{resource_type}/"
    return parse_id(value.removeprefix(prefix), param)


@dataclass(frozen=True)
class DateBound:
    """One ``date`` search value: ``prefix`` applied to the interval ``[start, end)``."""

    prefix: str
    start: dt.datetime
    end: dt.datetime


def parse_date(value: str, tz: ZoneInfo, param: str = "date") -> DateBound:
    """``[prefix]YYYY[-MM[-DD]]`` or a full dateTime; dates without a zone are the center's."""
    prefix, text = ("eq", value)
    if value[:2] in PREFIXES:
        prefix, text = value[:2], value[2:]
    try:
        start, end = _interval(text, tz)
    except (ValueError, OverflowError) as exc:
        raise bad_param(param, value, str(exc)) from None
    if not jsonguard.YEAR_MIN <= start.year <= jsonguard.YEAR_MAX:
        raise bad_param(param, value, "year out of range")
    return DateBound(prefix, start, end)


def _interval(text: str, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    match = _DATE.match(text)
    if match is None:
        if "T" not in text:
            raise ValueError("expected YYYY, YYYY-MM, YYYY-MM-DD or a dateTime")
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment, moment + dt.timedelta(seconds=1)
    year, month, day = (int(g) if g else None for g in match.groups())
    assert year is not None
    if month is None:
        return _local(year, 1, 1, tz), _local(year + 1, 1, 1, tz)
    if day is None:
        after = (year + 1, 1) if month == 12 else (year, month + 1)
        return _local(year, month, 1, tz), _local(*after, 1, tz)
    start = _local(year, month, day, tz)
    return start, start + dt.timedelta(days=1)


def _local(year: int, month: int, day: int, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=tz)


@dataclass(frozen=True)
class Page:
    """Which part of a searchset: ``count`` entries from ``offset``."""

    count: int = DEFAULT_COUNT
    offset: int = 0


def parse_count(count: str | None, offset: str | None) -> Page:
    """``_count`` (1..100, default 20) and ``_offset`` (0..10000)."""
    page = Page()
    if count is not None:
        if not count.isascii() or not count.isdigit() or not 0 < int(count) <= MAX_COUNT:
            raise bad_param("_count", count, f"expected 1..{MAX_COUNT}")
        page = Page(count=int(count))
    if offset is not None:
        if not offset.isascii() or not offset.isdigit() or int(offset) > MAX_OFFSET:
            raise bad_param("_offset", offset, f"expected 0..{MAX_OFFSET}")
        page = Page(count=page.count, offset=int(offset))
    return page
