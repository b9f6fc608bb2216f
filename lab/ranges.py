"""Reference ranges: picking the one for a patient's sex and age, and flagging a value.

Pure functions over plain values, so the API and the HL7 door flag results the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from lab.tables import LabRange
from lab.vocab import Flag

_BOUNDED = re.compile(r"(<=|>=|<|>)\s*[+-]?(\d+\.?\d*|\.\d+)")


@dataclass(frozen=True)
class Evaluation:
    """What a value means against its range: the flag, and why it is held (if it is)."""

    flag: Flag
    range_text: str = ""
    held_reason: str = ""

    @property
    def held(self) -> bool:
        return bool(self.held_reason)


def age_in_years(birth: dt.date | None, at: dt.datetime) -> float | None:
    if birth is None:
        return None
    return (at.date() - birth).days / 365.25


def select_range(ranges: Iterable[LabRange], sex: str, age_years: float | None) -> LabRange | None:
    """The most specific range covering ``sex`` and ``age_years``: one for the patient's sex wins
    over one for either sex, then the narrower age band. Unknown age matches the adult band."""
    age = 30.0 if age_years is None else age_years
    best: tuple[int, float, LabRange] | None = None
    for candidate in ranges:
        if candidate.sex and candidate.sex != sex:
            continue
        upper = candidate.age_max_years
        if age < candidate.age_min_years or (upper is not None and age >= upper):
            continue
        width = (upper if upper is not None else 200.0) - candidate.age_min_years
        key = (1 if candidate.sex else 0, -width)
        if best is None or key > best[:2]:
            best = (*key, candidate)
    return best[2] if best else None


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def range_text(limits: LabRange | None) -> str:
    if limits is None or (limits.low is None and limits.high is None):
        return ""
    if limits.low is None:
        return f"<{_fmt(limits.high)}"
    if limits.high is None:
        return f">{_fmt(limits.low)}"
    return f"{_fmt(limits.low)}-{_fmt(limits.high)}"


def evaluate(numeric: float | None, limits: LabRange | None) -> Evaluation:
    """Flag ``numeric`` against ``limits`` (HL7 table 0078) and hold it if it is implausible."""
    text = range_text(limits)
    if numeric is None or limits is None:
        return Evaluation(Flag.NONE, text)
    held = ""
    if (limits.plausible_low is not None and numeric < limits.plausible_low) or (
        limits.plausible_high is not None and numeric > limits.plausible_high
    ):
        held = (
            f"value {numeric:g} outside the physically plausible range "
            f"{_fmt(limits.plausible_low)}-{_fmt(limits.plausible_high)}"
        )
    if limits.critical_low is not None and numeric < limits.critical_low:
        flag = Flag.CRITICAL_LOW
    elif limits.critical_high is not None and numeric > limits.critical_high:
        flag = Flag.CRITICAL_HIGH
    elif limits.low is not None and numeric < limits.low:
        flag = Flag.LOW
    elif limits.high is not None and numeric > limits.high:
        flag = Flag.HIGH
    else:
        flag = Flag.NORMAL
    return Evaluation(flag, text, held)


def parse_numeric(value: str) -> float | None:
    """The number in a result value, or None for a text result ("阴性", "positive")."""
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def looks_numeric(value: str) -> bool:
    """A number, or a number behind a comparator (``<0.5``, ``>=1000``: below or above what the
    method measures)."""
    text = value.strip()
    return parse_numeric(text) is not None or _BOUNDED.fullmatch(text) is not None


def is_numeric_limited(ranges: Iterable[LabRange]) -> bool:
    """Whether a test's ranges have numeric limits (its values must then be numbers)."""
    limits = ("low", "high", "critical_low", "critical_high", "plausible_low", "plausible_high")
    return any(getattr(r, name) is not None for r in ranges for name in limits)
