"""QRS morphology per lead and the intraventricular conduction, pre-excitation, hypertrophy,
voltage and Q-wave criteria read from it.

Sources (each criterion cites its own):
- AHA/ACCF/HRS recommendations for the standardization and interpretation of the ECG, part
  III: intraventricular conduction disturbances (Surawicz et al., Circulation 2009;119:e235).
- Part V: chamber hypertrophy (Hancock et al., Circulation 2009;119:e251).
- Sokolow and Lyon, Am Heart J 1949;37:161. Cornell voltage: Casale et al., Circulation
  1987;75:565.
- Fourth universal definition of myocardial infarction (Thygesen et al., Eur Heart J 2019;
  40:237), table "ECG manifestations of prior myocardial infarction".
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

WAVE_MV = 0.05  # smallest deflection read as a wave (IEC 60601-2-25: 20-50 uV waves count)


@dataclass(frozen=True)
class LeadQrs:
    """QRS features of one lead of the median beat (mV, ms from global QRS onset)."""

    r_mv: float  # tallest positive deflection
    s_mv: float  # deepest negative deflection (positive number)
    q_mv: float  # depth of an initial negative deflection before the first R (0: none)
    q_ms: float  # its duration
    r_peak_ms: float  # R peak time (intrinsicoid deflection), from QRS onset
    terminal_mv: float  # mean of the last 40 ms of the QRS (sign of the terminal forces)
    r_prime: bool  # a second positive wave after a negative one (rsR')
    notched_r: bool  # two peaks in the R wave (broad notched or slurred R)
    initial_slope_ratio: float  # velocity of the first 30 ms / peak velocity (delta wave)

    @property
    def net_mv(self) -> float:
        """R minus S: the predominant direction."""
        return self.r_mv - self.s_mv


def lead_qrs(x: FloatArray, on: int, off: int, fs: float, onset: int | None = None) -> LeadQrs:
    """Features of one lead's QRS between the global ``on`` and ``off`` (baseline-corrected);
    the R peak time counts from ``onset`` (the global QRS onset; default ``on``): AHA/ACCF/HRS
    2009 part III measure it "from the beginning of the QRS complex to the peak of the R
    wave", and the beginning is the earliest onset in any lead."""
    qrs = x[on : off + 1]
    ms = 1000.0 / fs
    r_i = int(np.argmax(qrs))
    r_mv, s_mv = max(float(qrs[r_i]), 0.0), max(-float(qrs.min()), 0.0)
    first_pos = np.nonzero(qrs > WAVE_MV)[0]
    upto = int(first_pos[0]) if first_pos.size else qrs.size
    initial = qrs[:upto]
    q_mv = max(-float(initial.min()), 0.0) if initial.size else 0.0
    q_ms = float(np.sum(initial < -WAVE_MV / 2)) * ms if q_mv >= WAVE_MV else 0.0
    if q_mv < WAVE_MV:
        q_mv = 0.0
    tail = qrs[-max(int(0.04 * fs), 1) :]
    slope = np.abs(np.gradient(qrs))
    init = slope[: max(int(0.03 * fs), 2)]
    return LeadQrs(
        r_mv=r_mv,
        s_mv=s_mv,
        q_mv=q_mv,
        q_ms=q_ms,
        r_peak_ms=(r_i + on - (on if onset is None else min(onset, on))) * ms,
        terminal_mv=float(tail.mean()),
        r_prime=_r_prime(qrs),
        notched_r=_notched(qrs, r_mv),
        initial_slope_ratio=float(init.mean() / max(float(slope.max()), 1e-9)),
    )


def _peaks(y: FloatArray, height: float) -> list[int]:
    """Local maxima of ``y`` at least ``height`` high."""
    inner = (y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] >= height)
    return [int(i) + 1 for i in np.nonzero(inner)[0]]


def _r_prime(qrs: FloatArray) -> bool:
    """An R' wave: a positive peak that follows a negative deflection after a first positive
    one (rsR', rSR'), or a late dominant R after an initial r (the M shape of RBBB in V1)."""
    peaks = _peaks(qrs, WAVE_MV)
    for a, b in itertools.pairwise(peaks):
        dip = float(qrs[a:b].min())
        if dip < min(float(qrs[a]), float(qrs[b])) - WAVE_MV:
            return True
    return False


def _notched(qrs: FloatArray, r_mv: float) -> bool:
    """Two peaks in the R wave, both above half its height, with a dip between them."""
    if r_mv < 2 * WAVE_MV:
        return False
    peaks = _peaks(qrs, 0.5 * r_mv)
    return any(
        float(qrs[a:b].min()) < min(float(qrs[a]), float(qrs[b])) - 0.25 * WAVE_MV
        for a, b in itertools.pairwise(peaks)
    )


def morphology(
    med: FloatArray,
    leads: tuple[str, ...],
    on: int,
    off: int,
    fs: float,
    onset: int | None = None,
) -> dict[str, LeadQrs]:
    """`LeadQrs` of every lead (R peak times from ``onset``, default ``on``)."""
    return {name: lead_qrs(med[k], on, off, fs, onset) for k, name in enumerate(leads)}


def _has(m: dict[str, LeadQrs], *names: str) -> bool:
    return all(n in m for n in names)


def rbbb_pattern(m: dict[str, LeadQrs]) -> bool:
    """Right bundle branch block morphology (AHA/ACCF/HRS 2009 part III, RBBB criteria 2-4):
    rsr', rsR' or rSR' in V1 or V2 (or a late dominant R: R peak time > 50 ms in V1), and an S
    wave longer than R or > 40 ms in I and V6 (terminal forces negative there)."""
    if not _has(m, "V1", "I", "V6"):
        return False
    right = [m[n] for n in ("V1", "V2") if n in m]
    v1_ok = any(x.terminal_mv > 0 and (x.r_prime or x.r_peak_ms > 50) for x in right)
    wide_s = m["I"].terminal_mv < 0 and m["V6"].terminal_mv < 0
    return v1_ok and wide_s


def lbbb_pattern(m: dict[str, LeadQrs]) -> bool:
    """Left bundle branch block morphology (AHA/ACCF/HRS 2009 part III, LBBB criteria 2-4):
    broad R in I, aVL, V5 and V6, "an occasional RS pattern in V5 and V6 attributed to
    displaced transition of QRS complex" (so V5 may be RS: the R predominant in I and V6); no
    q wave in I, V5 and V6; R peak time > 60 ms in V5 or V6; V1 predominantly negative (QS or
    rS). The ST-T of LBBB is discordant, so no terminal-force sign is asked of I and V6."""
    if not _has(m, "V1", "I", "V6"):
        return False
    broad_r = all(m[n].net_mv > 0 for n in ("I", "V6"))
    no_q = all(m[n].q_mv < 0.1 for n in ("I", "V5", "V6") if n in m)  # septal q: intact
    late_peak = max((m[n].r_peak_ms for n in ("V5", "V6") if n in m), default=0.0) > 60
    return m["V1"].net_mv < 0 and broad_r and no_q and late_peak


def strauss_lbbb(m: dict[str, LeadQrs], qrs_ms: float, sex: str | None) -> bool:
    """Strict LBBB of Strauss, Selvester and Wagner (Am J Cardiol 2011;107:927): QRS >= 140 ms
    in men, >= 130 ms in women (the men's limit when sex is unknown: the specific one); QS or
    rS in V1 and V2; mid-QRS notching or slurring in two or more of I, aVL, V1, V2, V5, V6.
    Notching is read as a notched R (`LeadQrs.notched_r`)."""
    if qrs_ms < (130 if sex == "F" else 140) or not _has(m, "V1", "V2"):
        return False
    qs_rs = all(m[n].s_mv > 0 and m[n].r_mv < 0.5 * m[n].s_mv for n in ("V1", "V2"))
    notched = [n for n in ("I", "aVL", "V1", "V2", "V5", "V6") if n in m and m[n].notched_r]
    return qs_rs and len(notched) >= 2


def fascicular(m: dict[str, LeadQrs], axis: float | None) -> str | None:
    """LAFB or LPFB (AHA/ACCF/HRS 2009 part III, QRS < 120 ms).

    LAFB: frontal axis -45 to -90 degrees, qR in aVL (positive), rS in II, III and aVF.
    LPFB: frontal axis 90 to 180 degrees, rS in I and aVL, qR in III and aVF (right
    ventricular hypertrophy and lateral infarction excluded clinically; not from the ECG).
    """
    if axis is None or not _has(m, "I", "aVL", "II", "III", "aVF"):
        return None
    inferior_rs = all(m[n].net_mv < 0 and m[n].r_mv > 0 for n in ("II", "III", "aVF"))
    if -90 <= axis <= -45 and m["aVL"].net_mv > 0 and inferior_rs:
        return "LAFB"
    lateral_rs = all(m[n].net_mv < 0 for n in ("I", "aVL"))
    if 90 <= axis <= 180 and lateral_rs and m["III"].net_mv > 0 and m["aVF"].net_mv > 0:
        return "LPFB"
    return None


def pre_excitation(m: dict[str, LeadQrs], pr_ms: float | None, qrs_ms: float | None) -> bool:
    """Ventricular pre-excitation (AHA/ACCF/HRS 2009 part III, WPW pattern): PR < 120 ms, a
    delta wave (slurred QRS onset) and a QRS >= 120 ms. The delta wave: the first 30 ms of the
    QRS rise at under a quarter of the peak slope in most leads with a QRS of >= 0.5 mV."""
    if pr_ms is None or qrs_ms is None or pr_ms >= 120 or qrs_ms < 120:
        return False
    big = [x for x in m.values() if x.r_mv + x.s_mv >= 0.5]
    slurred = [x for x in big if x.initial_slope_ratio < 0.25]
    return bool(big) and len(slurred) >= 0.5 * len(big)


@dataclass(frozen=True)
class Voltage:
    """QRS voltages behind the hypertrophy criteria (mV)."""

    sokolow_mv: float | None
    cornell_mv: float | None


def voltages(m: dict[str, LeadQrs]) -> Voltage:
    """Sokolow-Lyon (S V1 + the larger R of V5 and V6) and Cornell (R aVL + S V3)."""
    sokolow = m["V1"].s_mv + max(m["V5"].r_mv, m["V6"].r_mv) if _has(m, "V1", "V5", "V6") else None
    cornell = m["aVL"].r_mv + m["V3"].s_mv if _has(m, "aVL", "V3") else None
    return Voltage(sokolow, cornell)


def lvh(v: Voltage, sex: str | None, age: int | None) -> list[str]:
    """The LVH voltage criteria met.

    Sokolow-Lyon 1949: S V1 + R V5/V6 >= 3.5 mV (in adults; young people exceed it normally,
    AHA/ACCF/HRS 2009 part V, so not under 35). Cornell voltage (Casale 1987): R aVL + S V3
    > 2.8 mV in men, > 2.0 mV in women; when sex is unknown the men's limit, the specific one.
    """
    out = []
    if v.sokolow_mv is not None and v.sokolow_mv >= 3.5 and (age is None or age >= 35):
        out.append("sokolow_lyon")
    limit = 2.0 if sex == "F" else 2.8
    if v.cornell_mv is not None and v.cornell_mv > limit:
        out.append("cornell")
    return out


# Contiguous lead groups of the fourth universal definition (prior MI table)
Q_GROUPS: tuple[tuple[str, ...], ...] = (("I", "aVL"), ("V4", "V5", "V6"), ("II", "III", "aVF"))


def pathological_q(m: dict[str, LeadQrs]) -> list[str]:
    """Leads with pathological Q waves (4th universal definition of MI, prior MI): any Q >= 20
    ms or a QS complex in V2-V3; a Q >= 30 ms and >= 0.1 mV deep, or a QS complex, in I, II,
    aVL, aVF or V4-V6 in two leads of a contiguous group (I, aVL; V4-V6; II, III, aVF)."""

    def qs(x: LeadQrs) -> bool:
        return x.r_mv < WAVE_MV and x.s_mv >= 0.3

    hits: list[str] = []
    septal = [n for n in ("V2", "V3") if n in m and (m[n].q_ms >= 20 or qs(m[n]))]
    if len(septal) == 2:
        hits += septal
    for group in Q_GROUPS:
        found = [
            n for n in group
            if n in m and ((m[n].q_ms >= 30 and m[n].q_mv >= 0.1) or qs(m[n]))
        ]  # fmt: skip
        if len(found) >= 2:
            hits += [n for n in found if n not in hits]
    return hits
