"""The seed prices of the lab's orderable tests (fen), for the county's charge catalogue.

Demonstration values near a county hospital's price list: panels cost less than their parts.
"""

from __future__ import annotations

from consult.charges import LAB_PREFIX, ItemSpec
from consult.vocab import RequestKind
from lab import catalogue_data as data

PANEL_FEN = {
    "58410-2": 2000,  # 血常规
    "51990-0": 4500,
    "24323-8": 8000,
    "24331-1": 3000,
    "24356-8": 1000,  # 尿常规
    "COAG4": 6000,
}
TEST_FEN = {"4548-4": 5000, "10839-9": 6000}
"""HbA1c and troponin I; any other single test costs :data:`DEFAULT_TEST_FEN`."""
DEFAULT_TEST_FEN = 800


def items() -> list[ItemSpec]:
    """One catalogue item per orderable test and panel of the seed lab catalogue."""
    tests: list[ItemSpec] = [
        (
            f"{LAB_PREFIX}{code}",
            name,
            en,
            RequestKind.LAB_TEST,
            TEST_FEN.get(code, DEFAULT_TEST_FEN),
        )
        for code, name, en, *_ in data.TESTS
    ]
    panels: list[ItemSpec] = [
        (f"{LAB_PREFIX}{code}", name, en, RequestKind.LAB_TEST, PANEL_FEN.get(code, 3000))
        for code, _system, name, en, *_ in data.PANELS
    ]
    return panels + tests
