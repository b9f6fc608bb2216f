"""Rhythm, conduction, axis, voltage, QT and ST statements; critical findings with thresholds."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecg.atrial import AtrialActivity
from ecg.beats import PVC, SVPB
from ecg.conduction import (
    LeadQrs,
    fascicular,
    lbbb_pattern,
    lvh,
    morphology,
    pathological_q,
    pre_excitation,
    rbbb_pattern,
    strauss_lbbb,
    voltages,
)
from ecg.episodes import Episode
from ecg.measure import Measurements, qtc
from ecg.pacing import Pacing
from ecg.statements import CriticalFinding, Statement, Value
from ecg.stemi import (
    lvh_discordant,
    posterior,
    sgarbossa,
    smith_sgarbossa,
    territories,
    threshold_mm,
)

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
LIMB = ("I", "II", "III", "aVR", "aVL", "aVF")
PRECORDIAL = ("V1", "V2", "V3", "V4", "V5", "V6")


@dataclass(frozen=True)
class CriticalThresholds:
    """Limits beyond which a finding is critical (bpm, seconds, beats)."""

    brady_bpm: float = 40.0
    tachy_bpm: float = 150.0
    pause_s: float = 3.0
    af_rvr_bpm: float = 110.0
    vt_min_beats: int = 3
    vt_min_bpm: float = 100.0

    def __post_init__(self) -> None:
        if not 10 <= self.brady_bpm < self.tachy_bpm <= 350:
            raise ValueError(
                f"need 10 <= brady_bpm ({self.brady_bpm}) < tachy_bpm ({self.tachy_bpm}) <= 350"
            )
        if not 1.0 <= self.pause_s <= 20.0:
            raise ValueError(f"pause_s={self.pause_s!r} outside 1-20 s")
        if not 60 <= self.af_rvr_bpm <= 250:
            raise ValueError(f"af_rvr_bpm={self.af_rvr_bpm!r} outside 60-250 bpm")
        if not 3 <= self.vt_min_beats <= 20:
            raise ValueError(f"vt_min_beats={self.vt_min_beats!r} outside 3-20")
        if not 60 <= self.vt_min_bpm <= 250:
            raise ValueError(f"vt_min_bpm={self.vt_min_bpm!r} outside 60-250 bpm")


@dataclass(frozen=True)
class Findings:
    """What the interpretation looks at, gathered by `ecg.analysis.analyze`."""

    fs: float
    duration_s: float
    beats: IntArray
    labels: tuple[str, ...]
    heart_rate: float | None
    measurements: Measurements
    unusable_leads: tuple[str, ...]
    n_leads: int
    atrial: AtrialActivity | None = None
    age: int | None = None
    sex: str | None = None
    episodes: tuple[Episode, ...] | None = None  # None: not computed (the record-level rules)
    pacing: Pacing | None = None  # pacemaker spikes (`ecg.pacing`); None: not looked for


def _rr_s(f: Findings) -> npt.NDArray[np.float64]:
    return np.asarray(np.diff(f.beats) / f.fs, dtype=np.float64)


# Atrial flutter (see ecg.atrial for the physiology)
MIN_ORGANISATION = 0.5  # flutter T-Q autocorrelation >= 0.6 even at 0.1 mV; AF and sinus P
#                         waves stay below 0.35 (AF may exceed it by chance: RR must then agree)
MIN_ORGANISATION_REGULAR = 0.71  # with a regular RR the quantisation of the RR intervals proves
#   nothing (every regular RR is some whole number of a cycle within CYCLE_AGREEMENT), so the
#   T-Q repeat alone must carry the evidence: more than half its power (r^2 >= 0.5) repeats one
#   cycle later. A sinus P wave and the tail of the T wave reach r ~ 0.55; F waves of 0.1 mV
#   in noise ~ 0.73, clean ones 0.85-0.95
MIN_SUPPORT_S = 0.3  # T-Q samples with a partner one cycle later: about 1.5 F cycles in all
MIN_ATRIAL_RMS_MV = 0.01  # band-passed T-Q activity above the noise of a good recording
QUANTUM_TOLERANCE = 0.1  # |RR / cycle - k| allowed: cycle jitter (a few ms) and detection
MIN_QUANTISED = 0.8  # share of RR intervals that must be whole multiples (k >= 2) of the cycle
CYCLE_AGREEMENT = 0.15  # the RR-quantising cycle within 15 % of the T-Q autocorrelation peak
#                         (that peak is broad: a T-Q interval holds only 1-3 F cycles)
MIN_HALF_RR = 0.22  # 2:1 block: half-RR repetition needed in both bands (sinus: one at most).
#   With the T wave's spatial directions projected out (ecg.atrial), synthetic sinus at
#   115-175/min stays <= 0.14 in the weaker band and 2:1 flutter at 250-330/min >= 0.30
TWO_TO_ONE_BPM = (115.0, 175.0)  # ventricular rates of 2:1 flutter (atrial 230-350)
MAX_REGULAR_CV = 0.05  # RR coefficient of variation of a fixed conduction ratio


def is_irregular(rr: npt.NDArray[np.float64]) -> bool:
    """Irregularly irregular RR: large and unpatterned successive differences."""
    if rr.size < 6:
        return False
    diffs = np.abs(np.diff(rr))
    mean = float(rr.mean())
    nrmssd = float(np.sqrt(np.mean(diffs**2))) / mean
    return nrmssd > 0.1 and float(np.mean(diffs > 0.1 * mean)) > 0.5


def _multiples(
    rr: npt.NDArray[np.float64], cycle: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """The nearest whole number k of ``cycle`` in each RR interval, and which are k >= 2
    within `QUANTUM_TOLERANCE` cycles."""
    ratio = rr / cycle
    k = np.round(ratio)
    return k, (k >= 2) & (np.abs(ratio - k) <= QUANTUM_TOLERANCE)


def quantised_share(rr: npt.NDArray[np.float64], cycle: float) -> float:
    """Share of RR intervals (s) that are a whole number k >= 2 of ``cycle`` (s) within
    `QUANTUM_TOLERANCE` cycles: the signature of flutter with variable block."""
    if rr.size == 0:
        return 0.0
    return float(np.mean(_multiples(rr, cycle)[1]))


def quantising_cycle(rr: npt.NDArray[np.float64], near: float) -> float | None:
    """The cycle (s) within `CYCLE_AGREEMENT` of ``near`` of which the most RR intervals (s)
    are whole multiples, refined by least squares; None if too few are."""
    grid = near * np.linspace(1 - CYCLE_AGREEMENT, 1 + CYCLE_AGREEMENT, 121)
    shares = np.array([quantised_share(rr, c) for c in grid])
    if shares.max() < MIN_QUANTISED:
        return None
    k, ok = _multiples(rr, float(grid[int(np.argmax(shares))]))
    return float((rr[ok] * k[ok]).sum() / (k[ok] ** 2).sum())  # least-squares RR = k * cycle


def flutter_rate(f: Findings) -> float | None:
    """Atrial rate (per minute) when the rhythm is atrial flutter, else None.

    Organised T-Q activity counts when most RR intervals are whole multiples (>= 2) of a
    cycle that agrees with its own (AF never quantises its RR); that cycle, timed by the R
    peaks, gives the atrial rate. With a regular rate of 115-175 and too short a T-Q interval, a 2:1
    block is recognised by the half-RR repetition of the atrial waves.
    """
    a, rr = f.atrial, _rr_s(f)
    if a is None or rr.size < 3:
        return None
    regular = float(rr.std() / rr.mean()) <= MAX_REGULAR_CV
    if (
        a.cycle_s is not None
        and a.organisation >= (MIN_ORGANISATION_REGULAR if regular else MIN_ORGANISATION)
        and a.support_s >= MIN_SUPPORT_S
        and a.rms_mv >= MIN_ATRIAL_RMS_MV
    ):
        cycle = quantising_cycle(rr, a.cycle_s)
        if cycle is not None:
            return 60.0 / cycle
    hr = f.heart_rate or 0.0
    if (
        regular
        and TWO_TO_ONE_BPM[0] <= hr <= TWO_TO_ONE_BPM[1]
        and a.half_rr is not None
        and min(a.half_rr) >= MIN_HALF_RR
    ):
        return 2.0 * hr
    return None


def _rhythm(f: Findings) -> list[Statement]:
    hr = f.heart_rate
    if hr is None:
        return []
    values = {"heart_rate_bpm": round(hr)}
    rr = _rr_s(f)
    atrial = flutter_rate(f)
    if atrial is not None:
        # organised flutter first: variable block makes the RR irregular, and an F wave
        # locked to the QRS may pass for a P wave in the median beat
        return [Statement("AFL", {**values, "atrial_rate_bpm": round(atrial)})]
    if f.episodes is not None:
        named = episode_rhythm(f, values)
        if named is not None:
            return named
    elif not f.measurements.p_present and is_irregular(rr):
        return [Statement("AF", values)]
    if f.measurements.p_present:
        code = "SB" if hr < 60 else "STACH" if hr > 100 else "SR"
        return [Statement(code, values)]
    out = [Statement("NONSINUS", values)]
    if hr < 60:
        out.append(Statement("BRADY", values))
    elif hr > 100:
        out.append(Statement("TACHY", values))
    return out


def _ectopy(f: Findings, af: bool) -> list[Statement]:
    out = []
    n_s, n_v = f.labels.count(SVPB), f.labels.count(PVC)
    if n_s and not af:
        out.append(Statement("SVPB", {"count": n_s, "of_beats": len(f.labels)}))
    if n_v:
        out.append(Statement("PVC", {"count": n_v, "of_beats": len(f.labels)}))
    vt = _vt_episodes(f)
    if vt:
        longest = max(vt, key=lambda e: e.beats)
        out.append(Statement("VT", {"beats": longest.beats, "rate_bpm": longest.rate_bpm}))
    rr = _rr_s(f)
    if rr.size and rr.max() >= 2.0:
        out.append(Statement("PAUSE", {"longest_rr_s": round(float(rr.max()), 2)}))
    return out


# -- rhythm episodes (wt-ecg) --
AF_NAMED_S = 30.0  # AF / flutter named when it lasts >= 30 s in all (the ESC definition of
#                    clinical AF on a rhythm strip: >= 30 s), or fills most of a short strip
AF_DOMINANT = 0.5


def _vt_episodes(f: Findings) -> list[Episode]:
    """VT episodes; without episodes, runs of >= 3 ventricular beats at >= 100/min."""
    if f.episodes is not None:
        return [e for e in f.episodes if e.kind == "vt"]
    run = longest_run(f.labels, PVC)
    rate = _run_rate(f, run)
    if run[1] >= 3 and rate >= 100.0:
        start = float(f.beats[run[0]] / f.fs)
        return [Episode("vt", start, float(f.beats[run[0] + run[1] - 1] / f.fs), run[1], rate)]
    return []


def episode_rhythm(f: Findings, values: Mapping[str, Value]) -> list[Statement] | None:
    """Record statements from the episodes: AF / flutter when >= `AF_NAMED_S` of it (or most
    of a short record), 2:1 AV block when it fills most of the record; None otherwise."""
    episodes = f.episodes or ()
    out: list[Statement] = []
    for kind, code in (("flutter", "AFL"), ("af", "AF")):
        total = sum(e.duration_s for e in episodes if e.kind == kind)
        if total >= AF_NAMED_S or total >= AF_DOMINANT * f.duration_s:
            share = round(100.0 * total / f.duration_s, 1) if f.duration_s else None
            out.append(Statement(code, {**values, "burden_percent": share}))
    if out:
        af_total = sum(e.duration_s for e in episodes if e.kind in ("af", "flutter"))
        if af_total < AF_DOMINANT * f.duration_s and f.measurements.p_present:
            hr = f.heart_rate or 0.0
            out.insert(0, Statement("SB" if hr < 60 else "STACH" if hr > 100 else "SR", values))
        return out
    block = sum(e.duration_s for e in episodes if e.kind == "avb2_2to1")
    if block >= AF_DOMINANT * f.duration_s:
        return [Statement("AVB2_2TO1", values)]
    return None


AV_BLOCK_CODES = (
    ("avb3", "AVB3"),
    ("avb2_mobitz2", "AVB2_MOBITZ2"),
    ("avb2_mobitz1", "AVB2_MOBITZ1"),
)
CRITICAL_AV_BLOCK = ("AVB3", "AVB2_MOBITZ2")  # pacing indicated, whatever the symptoms (2018
#                                               ACC/AHA/HRS bradycardia guideline)


def av_block(f: Findings) -> list[Statement]:
    """Second-degree (Mobitz I, II) and third-degree AV block from their episodes
    (`ecg.avblock`); one statement per kind, with the number of episodes and the first."""
    out = []
    for kind, code in AV_BLOCK_CODES:
        found = [e for e in f.episodes or () if e.kind == kind]
        if found:
            first = found[0]
            values: dict[str, Value] = {
                "episodes": len(found), "start_s": round(first.start_s, 1),
                "ventricular_rate_bpm": None if first.rate_bpm is None else round(first.rate_bpm),
            }  # fmt: skip
            out.append(Statement(code, values))
    return out


# -- end rhythm episodes --


def longest_run(labels: tuple[str, ...], label: str) -> tuple[int, int]:
    """(start index, length) of the longest run of ``label``."""
    best, start, length = (0, 0), 0, 0
    for k, lab in enumerate(labels):
        if lab == label:
            start = k if length == 0 else start
            length += 1
            if length > best[1]:
                best = (start, length)
        else:
            length = 0
    return best


def _run_rate(f: Findings, run: tuple[int, int]) -> float:
    start, length = run
    lo = max(start - 1, 0)  # include the interval into the first ventricular beat
    seg = f.beats[lo : start + length]
    if len(seg) < 2:
        return 0.0
    return float(60.0 * f.fs / np.mean(np.diff(seg)))


def _qtc(f: Findings) -> list[Statement]:
    """Long QT (AHA/ACCF/HRS 2009 part IV, Rautaharju et al.: QTc >= 450 ms men, >= 460 ms
    women) on the typical lead's QT (`Measurements.qt_typical_ms`); Bazett over-corrects
    outside 60-100 bpm, where Fridericia is used. Not with a wide QRS, whose depolarisation
    lengthens the QT by itself."""
    m = f.measurements
    qt, rr = m.qt_typical_ms, m.intervals.rr_ms
    if qt is None or not rr:
        return []
    if m.qrs_core_ms is not None and m.qrs_core_ms >= 120:
        return []
    hr = f.heart_rate or 0.0
    formula = "bazett" if 60 <= hr <= 100 else "fridericia"
    bazett, fridericia, _, _ = qtc(qt, rr)
    value = bazett if formula == "bazett" else fridericia
    limit = 450 if f.sex == "M" else 460
    if value < limit:
        return []
    return [Statement("LQT", {"qtc_ms": round(value), "formula": formula, "limit_ms": limit})]


def _morphology(f: Findings) -> dict[str, LeadQrs]:
    m, fid = f.measurements, f.measurements.fiducials
    if m.median_beats is None or fid is None:
        return {}
    leads = tuple(s.lead for s in m.st)
    on, off = fid.qrs_on, fid.qrs_off
    if fid.qrs_core_on is not None and m.qrs_core_ms is not None:
        # Morphology on the span where the complex visibly moves: the walk of the global
        # offset to the flattest point runs into the ST segment, whose discordant elevation
        # or depression in bundle-branch block (or injury) would read as terminal forces
        # and as a late R' / R peak (AHA/ACCF/HRS 2009 part III measure QRS waves, not ST).
        on = fid.qrs_core_on
        off = min(on + round(m.qrs_core_ms * f.fs / 1000.0), fid.qrs_off)
    # R peak times from the global onset (the earliest in any lead), not the core onset
    return morphology(m.median_beats, leads, on, off, f.fs, onset=fid.qrs_on)


def _conduction(f: Findings, morph: dict[str, LeadQrs]) -> list[Statement]:
    """AV and intraventricular conduction (AHA/ACCF/HRS 2009 part III).

    First-degree AV block: PR > 200 ms. Complete bundle branch block: QRS >= 120 ms with the
    morphology of `lbbb_pattern` / `rbbb_pattern`; incomplete: QRS 110-119 ms with it.
    Nonspecific intraventricular conduction delay: QRS > 110 ms without bundle-branch
    morphology in the guideline; from 120 ms here, as most electrocardiographs do, because a
    delay of 110-119 ms without morphology is not distinguishable from normal variation.
    Durations are `Measurements.qrs_core_ms`, the span the guideline's limits were set on.
    Pre-excitation (PR < 120 ms, delta wave, wide QRS) is named instead of a block.
    """
    iv = f.measurements.intervals
    out: list[Statement] = []
    qrs = f.measurements.qrs_core_ms
    if _paced_ventricles(f):
        # a paced QRS is wide by the ventricular stimulation itself, and its PR is the
        # programmed AV delay: no bundle-branch, fascicular or AV-conduction reading
        return out
    if iv.pr_ms is not None and iv.pr_ms > 200:
        out.append(Statement("AVB1", {"pr_ms": round(iv.pr_ms)}))
    if qrs is None or not morph:
        return out
    values: dict[str, Value] = {"qrs_ms": round(qrs)}
    if pre_excitation(morph, iv.pr_ms, qrs):
        return [*out, Statement("WPW", {**values, "pr_ms": round(iv.pr_ms or 0)})]
    if qrs >= 120:
        left = lbbb_pattern(morph) or strauss_lbbb(morph, qrs, f.sex)
        code = "LBBB" if left else "RBBB" if rbbb_pattern(morph) else "IVCD"
        out.append(Statement(code, values))
    elif qrs >= 110:
        if rbbb_pattern(morph):
            out.append(Statement("IRBBB", values))
        elif lbbb_pattern(morph):
            out.append(Statement("ILBBB", values))
    if qrs < 120:
        block = fascicular(morph, f.measurements.axes.qrs)
        if block:
            out.append(Statement(block, {**values, "qrs_axis": _round(f.measurements.axes.qrs)}))
    return out


def _paced_ventricles(f: Findings) -> bool:
    """Most beats ventricularly paced (`ecg.pacing`)."""
    return f.pacing is not None and (f.pacing.mode or "") in ("V", "AV")


def paced_rhythm(f: Findings) -> list[Statement]:
    """Paced rhythm (atrial, ventricular or dual-chamber) when most beats follow a pacemaker
    spike (`ecg.pacing`)."""
    p = f.pacing
    if p is None or p.mode is None:
        return []
    values: dict[str, Value] = {
        "mode": p.mode,
        "ventricular_paced_percent": round(100 * p.ventricular_share),
        "atrial_paced_percent": round(100 * p.atrial_share),
        "spikes": len(p.spikes),
    }
    return [Statement("PACED", values)]


def _round(value: float | None) -> int | None:
    return None if value is None else round(value)


def _axis_voltage(f: Findings, morph: dict[str, LeadQrs], wide: bool) -> list[Statement]:
    """Axis deviation, low voltage, LVH.

    Axis (AHA/ACCF/HRS 2009 part I): left -30 to -90, right +90 to +180, extreme beyond -90.
    Low voltage (part V): every limb lead < 0.5 mV or every precordial lead < 1.0 mV peak to
    peak. LVH by voltage (`ecg.conduction.lvh`): not in a bundle-branch block or pre-excitation,
    where the voltage criteria do not hold.
    """
    out = []
    axis = f.measurements.axes.qrs
    if axis is not None:
        if -90 <= axis < -30:
            out.append(Statement("LAD", {"qrs_axis": round(axis)}))
        elif 90 < axis <= 180:
            out.append(Statement("RAD", {"qrs_axis": round(axis)}))
        elif axis < -90:
            out.append(Statement("XAXIS", {"qrs_axis": round(axis)}))
    amp = f.measurements.qrs_amplitude_mv
    limb = [amp[n] for n in LIMB if n in amp]
    chest = [amp[n] for n in PRECORDIAL if n in amp]
    if (len(limb) == 6 and max(limb) < 0.5) or (len(chest) == 6 and max(chest) < 1.0):
        out.append(Statement("LOWV", {"max_limb_mv": round(max(limb), 2) if limb else None}))
    if morph and not wide:
        v = voltages(morph)
        met = lvh(v, f.sex, f.age)
        if met:
            out.append(
                Statement(
                    "LVH",
                    {
                        "criteria": met,
                        "sokolow_lyon_mv": None if v.sokolow_mv is None else round(v.sokolow_mv, 2),
                        "cornell_mv": None if v.cornell_mv is None else round(v.cornell_mv, 2),
                    },
                )
            )
    return out


def _st_assessable(f: Findings) -> bool:
    """Whether the ST segment is free of the next P wave: at fast rates with a long PR the P
    wave lands on the preceding ST segment (sinus 150-170/min with PR 280 ms) and reads as ST
    elevation. The next beat's P onset must come after J + 80 ms."""
    iv, fid = f.measurements.intervals, f.measurements.fiducials
    if fid is None or iv.rr_ms is None:
        return True
    ms = 1000.0 / f.fs
    j_after_onset = (fid.qrs_off - fid.qrs_on) * ms
    pr = iv.pr_ms if iv.pr_ms is not None else 0.0
    if iv.pr_ms is None and not f.measurements.p_present and (f.heart_rate or 0) > 130:
        return False  # P waves not found at a fast regular rate: they may sit on the ST
    return iv.rr_ms - pr > j_after_onset + 80.0


def _stemi(f: Findings, statements: list[Statement], morph: dict[str, LeadQrs]) -> list[Statement]:
    """STEMI and its equivalents (4th universal definition of MI, 2018).

    Not read in pre-excitation or a nonspecific wide QRS; in LBBB and in ventricular pacing
    only by the Smith-modified Sgarbossa criteria (Smith et al., Ann Emerg Med 2012;60:766;
    in paced rhythm: Dodd et al., Ann Emerg Med 2021;78:517); with LVH, precordial elevation
    must exceed a quarter of the S wave (Armstrong 2012). A STEMI needs its territory's
    contiguous leads and a reciprocal depression (`ecg.stemi.territories`). Posterior STEMI:
    ST depression V1-V3.
    """
    codes = {s.code for s in statements}
    st = f.measurements.st
    paced = _paced_ventricles(f)
    if not st or codes & {"WPW", "IVCD"}:
        return []
    if not _st_assessable(f):
        return [Statement("ST_UNREADABLE", {"heart_rate_bpm": _round(f.heart_rate)})]
    if "LBBB" in codes or paced:
        met = smith_sgarbossa(st, morph)
        if not met:
            return []
        score = sgarbossa(st, {n: x.net_mv for n, x in morph.items()})
        values: dict[str, Value] = {
            "criteria": met, "sgarbossa": score, "rhythm": "paced" if paced else "LBBB",
        }  # fmt: skip
        return [Statement("STEMI_LBBB", values)]
    reading = territories(st, f.age, f.sex)
    s_mv = {n: x.s_mv for n, x in morph.items()}
    if reading is not None and "LVH" in codes and lvh_discordant(st, reading.leads, s_mv):
        reading = None
    j = {s.lead: s.j_mv for s in st}
    if reading is not None:
        return [
            Statement(
                "STEMI",
                {
                    "territories": list(reading.territories),
                    "leads": list(reading.leads),
                    "st_j_mm": [round(j[n] * 10, 1) for n in reading.leads],
                    "threshold_mm": [threshold_mm(n, f.age, f.sex) for n in reading.leads],
                    "reciprocal_leads": list(reading.reciprocal),
                    "sex": f.sex,
                    "age": f.age,
                },
            )
        ]
    if "RBBB" in codes or "LVH" in codes:
        return []  # V1-V3 ST depression is secondary repolarisation there
    post = posterior(st)
    if post:
        return [
            Statement("STEMI_POST", {"leads": post, "st_j_mm": [round(j[n] * 10, 1) for n in post]})
        ]
    return []


def _old_mi(statements: list[Statement], morph: dict[str, LeadQrs]) -> list[Statement]:
    """Prior infarction by pathological Q waves (`ecg.conduction.pathological_q`), not read in
    LBBB, pre-excitation or a wide QRS, which change the initial forces (4th UDMI)."""
    codes = {s.code for s in statements}
    paced = any(s.code == "PACED" and s.values.get("mode") in ("V", "AV") for s in statements)
    if not morph or paced or codes & {"LBBB", "WPW", "IVCD", "STEMI"}:
        return []
    leads = pathological_q(morph)
    return [Statement("OLDMI", {"leads": leads})] if leads else []


def interpret(f: Findings) -> list[Statement]:
    """All statements for one analysed ECG."""
    if f.unusable_leads and len(f.unusable_leads) == f.n_leads:
        return [Statement("UNREADABLE", {"unusable_leads": list(f.unusable_leads)})]
    out: list[Statement] = []
    if f.unusable_leads:
        out.append(Statement("POORLEADS", {"leads": list(f.unusable_leads)}))
    if len(f.beats) < 2:
        code = "NOQRS" if f.duration_s >= 3.0 else "SHORT"
        return [*out, Statement(code, {"duration_s": round(f.duration_s, 1)})]
    out += _rhythm(f)
    out += paced_rhythm(f)
    out += av_block(f)
    af = any(s.code == "AF" for s in out)
    out += _ectopy(f, af)
    if f.measurements.fiducials is not None:
        morph = _morphology(f)
        out += _conduction(f, morph)
        wide = _paced_ventricles(f) or any(s.code in ("LBBB", "RBBB", "IVCD", "WPW") for s in out)
        out += _qtc(f)
        out += _axis_voltage(f, morph, wide)
        out += _stemi(f, out, morph)
        out += _old_mi(out, morph)
    return out


def critical_findings(
    f: Findings, statements: list[Statement], thresholds: CriticalThresholds
) -> list[CriticalFinding]:
    """Findings that need a clinician now, judged against ``thresholds``."""
    codes = {s.code: s for s in statements}
    out: list[CriticalFinding] = []
    for code in ("STEMI", "STEMI_POST", "STEMI_LBBB"):
        if code in codes:
            out.append(CriticalFinding(code, "critical", dict(codes[code].values)))
    vt = [
        e for e in _vt_episodes(f)
        if e.beats >= thresholds.vt_min_beats and (e.rate_bpm or 0.0) >= thresholds.vt_min_bpm
    ]  # fmt: skip
    if vt:
        run = max(vt, key=lambda e: e.beats)
        values = {"beats": run.beats, "rate_bpm": round(run.rate_bpm or 0.0)}
        out.append(CriticalFinding("VT", "critical", {**values, "start_s": round(run.start_s, 2)}))
    for code in CRITICAL_AV_BLOCK:
        if code in codes:
            out.append(CriticalFinding(code, "critical", dict(codes[code].values)))
    hr = f.heart_rate
    if hr is not None and hr < thresholds.brady_bpm:
        out.append(CriticalFinding("HR_LOW", "critical", {"heart_rate_bpm": round(hr)}))
    if hr is not None and hr > thresholds.tachy_bpm:
        out.append(CriticalFinding("HR_HIGH", "critical", {"heart_rate_bpm": round(hr)}))
    rr = _rr_s(f) if len(f.beats) > 1 else np.zeros(0)
    longest = max(float(rr.max()) if rr.size else 0.0, _edge_gap(f))
    if longest > thresholds.pause_s:
        out.append(CriticalFinding("LONG_PAUSE", "critical", {"longest_s": round(longest, 2)}))
    if "AF" in codes and hr is not None and hr > thresholds.af_rvr_bpm:
        out.append(CriticalFinding("AF_RVR", "urgent", {"heart_rate_bpm": round(hr)}))
    if "NOQRS" in codes and not any(c.code == "LONG_PAUSE" for c in out):
        out.append(CriticalFinding("NOQRS", "critical", dict(codes["NOQRS"].values)))
    return out


def _edge_gap(f: Findings) -> float:
    """Longest stretch without a beat, counting from the record edges when leads are usable."""
    if f.unusable_leads and len(f.unusable_leads) == f.n_leads:
        return 0.0
    if len(f.beats) == 0:
        return f.duration_s
    return max(f.beats[0] / f.fs, f.duration_s - f.beats[-1] / f.fs)
