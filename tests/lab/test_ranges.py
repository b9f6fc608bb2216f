"""Reference range selection by sex and age, and the three tiers of flags."""

from __future__ import annotations

import datetime as dt

import pytest

from lab.catalogue import RangeSpec
from lab.catalogue_data import RANGES
from lab.ranges import age_in_years, evaluate, parse_numeric, select_range
from lab.tables import LabRange


def ranges_of(code: str) -> list[LabRange]:
    return [
        LabRange(
            test_code=c,
            sex=sex,
            age_min_years=amin,
            age_max_years=amax,
            low=low,
            high=high,
            critical_low=cl,
            critical_high=ch,
            plausible_low=pl,
            plausible_high=ph,
        )
        for c, sex, amin, amax, low, high, cl, ch, pl, ph in RANGES
        if c == code
    ]


@pytest.mark.parametrize(
    ("sex", "age", "expected"),
    [
        ("M", 40.0, (130, 175)),
        ("F", 40.0, (115, 150)),
        ("M", 10.0, (110, 160)),  # children: one band for both sexes
        ("F", 0.5, (100, 140)),  # infants
        ("U", 40.0, None),  # unknown sex, adult: no range for either sex
        ("M", None, (130, 175)),  # unknown age: the adult band
    ],
)
def test_hemoglobin_range_by_sex_and_age(
    sex: str, age: float | None, expected: tuple[int, int] | None
) -> None:
    chosen = select_range(ranges_of("718-7"), sex, age)
    assert (None if chosen is None else (chosen.low, chosen.high)) == expected


def test_sex_specific_range_wins_over_either_sex() -> None:
    either = LabRange(test_code="x", sex="", age_min_years=0, age_max_years=None, low=1, high=2)
    female = LabRange(test_code="x", sex="F", age_min_years=0, age_max_years=None, low=3, high=4)
    assert select_range([either, female], "F", 30) is female
    assert select_range([either, female], "M", 30) is either


@pytest.mark.parametrize(
    ("value", "flag", "held"),
    [
        (4.2, "N", False),
        (3.3, "L", False),
        (5.6, "H", False),
        (2.5, "LL", False),
        (6.5, "HH", False),
        (0.4, "LL", True),  # below what a living patient can have
        (25.0, "HH", True),
    ],
)
def test_potassium_flags(value: float, flag: str, held: bool) -> None:
    verdict = evaluate(value, select_range(ranges_of("2823-3"), "M", 50))
    assert verdict.flag == flag
    assert verdict.held is held
    assert verdict.range_text == "3.5-5.3"


def test_text_values_and_missing_ranges_have_no_flag() -> None:
    assert evaluate(parse_numeric("阴性"), None).flag == ""
    assert evaluate(1.0, None).flag == ""
    assert parse_numeric(" 5.20 ") == 5.2
    assert parse_numeric("nan") is None


def test_age_in_years() -> None:
    at = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    assert int(age_in_years(dt.date(1958, 3, 12), at) or 0) == 68
    assert age_in_years(None, at) is None


def test_range_spec_checks_itself() -> None:
    with pytest.raises(ValueError, match="limits must rise"):
        RangeSpec(low=5, high=3)
    with pytest.raises(ValueError, match="sex"):
        RangeSpec(sex="X")
    RangeSpec(low=1, high=2, critical_low=0.5, plausible_high=10)
