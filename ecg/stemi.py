"""ST-elevation criteria of the fourth universal definition of myocardial infarction (2018).

New ST elevation at the J point in two contiguous leads: at least 1 mm (0.1 mV) in all leads
other than V2-V3; in V2-V3 at least 2 mm in men 40 years or older, 2.5 mm in men under 40,
1.5 mm in women regardless of age. When sex or age is unknown the most sensitive applicable
threshold is used, because missing a STEMI costs more than a second look.
"""

from __future__ import annotations

from ecg.measure import StLevel

CONTIGUOUS: tuple[tuple[str, str], ...] = (
    ("II", "III"), ("II", "aVF"), ("III", "aVF"),  # inferior
    ("I", "aVL"),  # high lateral
    ("V1", "V2"), ("V2", "V3"), ("V3", "V4"), ("V4", "V5"), ("V5", "V6"),  # precordial
    ("V6", "I"), ("V5", "I"),  # lateral
)  # fmt: skip


def threshold_mm(lead: str, age: int | None, sex: str | None) -> float:
    """ST elevation needed at the J point in ``lead`` (mm at 10 mm/mV)."""
    if lead not in ("V2", "V3"):
        return 1.0
    if sex == "F" or sex is None:
        return 1.5
    if age is not None and age < 40:
        return 2.5
    return 2.0


def stemi_leads(st: tuple[StLevel, ...], age: int | None, sex: str | None) -> list[str]:
    """Leads of every contiguous pair that both meet their thresholds (empty: criteria unmet)."""
    elevated = {s.lead for s in st if s.j_mv * 10.0 >= threshold_mm(s.lead, age, sex)}
    hit: list[str] = []
    for a, b in CONTIGUOUS:
        if a in elevated and b in elevated:
            hit += [x for x in (a, b) if x not in hit]
    return hit
