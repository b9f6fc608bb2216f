"""The 18-digit Chinese resident identity number (GB 11643-1999).

Layout: 6-digit address code, 8-digit birth date (YYYYMMDD), 3-digit order code whose last digit
is odd for men and even for women, and a check character by ISO 7064 MOD 11-2 (``X`` stands for 10).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
CHECK_CHARS = "10X98765432"
PROVINCE_CODES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50}
    | {51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
)


class ResidentIdError(ValueError):
    """The number is not a valid resident ID; the message says why."""


@dataclass(frozen=True)
class ResidentId:
    """A checked resident ID and what it encodes."""

    number: str
    birth_date: dt.date
    sex: str  # "M" or "F"


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def parse_resident_id(raw: str, *, today: dt.date | None = None) -> ResidentId:
    """Check ``raw`` and return what it encodes.

    Raises
    ------
    ResidentIdError
        With a message naming the first problem found.
    """
    number = raw.strip().upper()
    if len(number) != 18:
        raise ResidentIdError(f"resident ID must have 18 characters, not {len(number)}")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ResidentIdError("resident ID must be 17 digits followed by a digit or X")
    if int(number[:2]) not in PROVINCE_CODES:
        raise ResidentIdError(f"resident ID region code {number[:2]} does not exist")
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ResidentIdError(f"resident ID birth date {number[6:14]} is not a date") from None
    today = today or dt.date.today()
    if birth > today or birth.year < 1880:
        raise ResidentIdError(f"resident ID birth date {birth.isoformat()} is not plausible")
    expected = check_character(number[:17])
    if number[17] != expected:
        raise ResidentIdError(f"resident ID check character is {number[17]}, expected {expected}")
    sex = "M" if int(number[16]) % 2 else "F"
    return ResidentId(number=number, birth_date=birth, sex=sex)
