"""GB 11643 resident ID validation: known numbers and properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consult.residentid import ResidentIdError, check_character, parse_resident_id

VALID = [
    ("11010519491231002X", dt.date(1949, 12, 31), "F"),  # the standard's own example
    ("11010519491231002x", dt.date(1949, 12, 31), "F"),  # lower-case x accepted
    ("440524188001010014"[:17] + "4", dt.date(1880, 1, 1), "M"),
    ("110105199003074472", dt.date(1990, 3, 7), "M"),
]


def iso7064_mod11_2(first17: str) -> str:
    """An independent check: the recursive form of ISO 7064 MOD 11-2 (not the weight table)."""
    p = 0
    for digit in first17:
        p = ((p + int(digit)) * 2) % 11
    value = (12 - p) % 11
    return "X" if value == 10 else str(value)


def test_check_character_agrees_with_the_recursive_method() -> None:
    for first17 in (
        "11010519491231002",
        "44052418800101001",
        "11010519900307447",
        "65010220001231999",
    ):
        assert check_character(first17) == iso7064_mod11_2(first17)


INVALID = [
    ("11010519491231002", "18 characters"),
    ("1101051949123100211", "18 characters"),
    ("110105194912310021", "check character"),
    ("11010519491331002X", "not a date"),  # month 13
    ("11010520990101002X", "not plausible"),  # born in the future
    ("99010519491231002X", "region code"),
    ("1101051949123100AX", "17 digits"),
    ("", "18 characters"),
]


@pytest.mark.parametrize(("number", "birth", "sex"), VALID)
def test_known_valid(number: str, birth: dt.date, sex: str) -> None:
    rid = parse_resident_id(number, today=dt.date(2026, 1, 1))
    assert (rid.birth_date, rid.sex) == (birth, sex)
    assert rid.number == number.upper()


@pytest.mark.parametrize(("number", "why"), INVALID)
def test_known_invalid(number: str, why: str) -> None:
    with pytest.raises(ResidentIdError, match=why):
        parse_resident_id(number, today=dt.date(2026, 1, 1))


digits = st.text(alphabet="0123456789", min_size=3, max_size=3)
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2025, 12, 31))


@given(birth=dates, order=digits, region=st.sampled_from(["110101", "410102", "440524", "650102"]))
def test_generated_numbers_round_trip(birth: dt.date, order: str, region: str) -> None:
    first17 = f"{region}{birth:%Y%m%d}{order}"
    rid = parse_resident_id(first17 + check_character(first17), today=dt.date(2026, 1, 1))
    assert rid.birth_date == birth
    assert rid.sex == ("M" if int(order[-1]) % 2 else "F")


@given(birth=dates, order=digits, position=st.integers(0, 16), delta=st.integers(1, 9))
def test_any_single_digit_error_is_caught(
    birth: dt.date, order: str, position: int, delta: int
) -> None:
    first17 = f"410102{birth:%Y%m%d}{order}"
    good = first17 + check_character(first17)
    changed = good[:position] + str((int(good[position]) + delta) % 10) + good[position + 1 :]
    with pytest.raises(ResidentIdError):
        parse_resident_id(changed, today=dt.date(2026, 1, 1))
