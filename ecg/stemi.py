"""ST-elevation criteria of the fourth universal definition of myocardial infarction (2018).

New ST elevation at the J point in two contiguous leads: at least 1 mm (0.1 mV) in all leads
other than V2-V3; in V2-V3 at least 2 mm in men 40 years or older, 2.5 mm in men under 40,
1.5 mm in women regardless of age. When sex or age is unknown the most sensitive applicable
threshold is used, because missing a STEMI costs more than a second look.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ecg.conduction import LeadQrs
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


# Territories (4th universal definition: contiguous groups) and where their reciprocal
# depression shows: inferior injury mirrors in I/aVL, high lateral in II/III/aVF, anterior in
# the inferior leads (Birnbaum and Drew, BMJ 2003, "The electrocardiogram in ST elevation
# acute myocardial infarction: correlation with coronary anatomy").
TERRITORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "inferior": (("II", "III", "aVF"), ("I", "aVL")),
    "anterior": (("V1", "V2", "V3", "V4"), ("II", "III", "aVF")),
    "lateral": (("I", "aVL", "V5", "V6"), ("II", "III", "aVF")),
}
RECIPROCAL_MV = 0.05  # ST depression of >= 0.5 mm counts as reciprocal (Birnbaum and Drew)
POSTERIOR_MV = 0.1  # 4th UDMI: ST depression V1-V3 as posterior injury (>= 1 mm here, in two)


@dataclass(frozen=True)
class StReading:
    """ST-elevation findings: territories, their leads, the reciprocal leads."""

    territories: tuple[str, ...]
    leads: tuple[str, ...]
    reciprocal: tuple[str, ...]


def territories(st: tuple[StLevel, ...], age: int | None, sex: str | None) -> StReading | None:
    """STEMI by territory: the contiguous elevated leads of each territory, kept when the
    opposite territory shows reciprocal depression or when three or more leads are elevated
    (a lone contiguous pair without a mirror image is as often early repolarisation or
    pericarditis: 4th UDMI, "conditions mimicking STEMI")."""
    hit = set(stemi_leads(st, age, sex))
    if not hit:
        return None
    j = {s.lead: s.j_mv for s in st}
    names, leads, mirror = [], [], []
    for name, (own, opposite) in TERRITORIES.items():
        mine = [n for n in own if n in hit]
        if len(mine) < 2:
            continue
        recip = [n for n in opposite if j.get(n, 0.0) <= -RECIPROCAL_MV]
        if recip or len(hit) >= 3:
            names.append(name)
            leads += [n for n in mine if n not in leads]
            mirror += [n for n in recip if n not in mirror]
    if not names:
        return None
    return StReading(tuple(names), tuple(leads), tuple(mirror))


def posterior(st: tuple[StLevel, ...]) -> list[str]:
    """Posterior STEMI equivalent (4th UDMI): ST depression in two or more of V1-V3, deeper
    there than in V4-V6 (not the diffuse depression of subendocardial ischaemia)."""
    j = {s.lead: s.j_mv for s in st}
    right = [n for n in ("V1", "V2", "V3") if j.get(n, 0.0) <= -POSTERIOR_MV]
    left = min((j.get(n, 0.0) for n in ("V4", "V5", "V6")), default=0.0)
    if len(right) >= 2 and min(j[n] for n in right) < left:
        return right
    return []


def sgarbossa(st: tuple[StLevel, ...], net_qrs_mv: dict[str, float]) -> int:
    """Sgarbossa score of STEMI in LBBB (Sgarbossa et al., NEJM 1996;334:481): concordant ST
    elevation >= 1 mm in a lead with a positive QRS (5), concordant ST depression >= 1 mm in
    V1-V3 (3), discordant ST elevation >= 5 mm with a negative QRS (2). >= 3 is STEMI."""
    score = 0
    j = {s.lead: s.j_mv for s in st}
    if any(j[n] >= 0.1 and net_qrs_mv.get(n, 0.0) > 0 for n in j):
        score += 5
    if any(j.get(n, 0.0) <= -0.1 and net_qrs_mv.get(n, 0.0) < 0 for n in ("V1", "V2", "V3")):
        score += 3
    if any(j[n] >= 0.5 and net_qrs_mv.get(n, 0.0) < 0 for n in j):
        score += 2
    return score


def lvh_discordant(st: tuple[StLevel, ...], leads: tuple[str, ...], s_mv: dict[str, float]) -> bool:
    """ST elevation in V1-V3 explained by LVH: below a quarter of the S wave depth in each
    elevated precordial lead (Armstrong et al., Am J Cardiol 2012;110:977: ST/S >= 25 % in
    V1-V3 identifies STEMI in LVH)."""
    j = {s.lead: s.j_mv for s in st}
    chest = [n for n in leads if n in ("V1", "V2", "V3")]
    return (
        bool(chest)
        and len(chest) == len(leads)
        and all(j[n] < 0.25 * s_mv.get(n, 0.0) for n in chest)
    )


def smith_sgarbossa(st: tuple[StLevel, ...], morph: Mapping[str, LeadQrs]) -> list[str]:
    """Smith-modified Sgarbossa criteria of acute coronary occlusion in LBBB (Smith et al., Ann
    Emerg Med 2012;60:766; the same criteria in ventricular paced rhythm: Dodd et al., Ann
    Emerg Med 2021;78:517). Any one is positive:

    - ``concordant_ste``: ST elevation >= 1 mm in a lead whose QRS is predominantly positive;
    - ``concordant_std``: ST depression >= 1 mm in V1, V2 or V3 with a negative QRS;
    - ``excessive_discordant_ste``: discordant ST elevation >= 1 mm with ST/S <= -0.25 (the
      elevation at least a quarter of the S wave's depth; it replaces Sgarbossa's fixed 5 mm).
    """
    met: list[str] = []
    for s in st:
        x = morph.get(s.lead)
        if x is None:
            continue
        if s.j_mv >= 0.1 and x.net_mv > 0 and "concordant_ste" not in met:
            met.append("concordant_ste")
        if (
            s.lead in ("V1", "V2", "V3")
            and s.j_mv <= -0.1
            and x.net_mv < 0
            and "concordant_std" not in met
        ):
            met.append("concordant_std")
        discordant = s.j_mv >= 0.1 and x.net_mv < 0 and x.s_mv > 0
        if discordant and s.j_mv / -x.s_mv <= -0.25 and "excessive_discordant_ste" not in met:
            met.append("excessive_discordant_ste")
    return met
