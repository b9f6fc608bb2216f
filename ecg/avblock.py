"""Second- and third-degree AV block from the individual P waves of a recording.

Definitions (2018 ACC/AHA/HRS guideline on bradycardia and cardiac conduction delay,
Kusumoto et al., section 3, table of AV-block definitions):

* **Mobitz type I** (Wenckebach): P waves at a constant rate with a periodic single
  non-conducted P wave, the PR intervals before and after it *not* constant: the PR
  lengthens progressively before the non-conducted P wave and the first PR after it is
  shorter than the last one before it.
* **Mobitz type II**: P waves at a constant rate with a periodic single non-conducted P
  wave, the PR intervals before and after it constant.
* **Third-degree (complete) AV block**: no evidence of AV conduction: the atria and the
  ventricles beat independently, the atrial rate faster than the ventricular (escape) rate,
  the escape rhythm regular, and the PR intervals vary without relation.

2:1 block (every other P wave non-conducted) cannot be typed as Mobitz I or II and is found
by `ecg.episodes` from the P-wave coherence.

The P waves are found one by one: the ventricular activity is removed by subtracting the
median QRS-T of the beats (aligned on the R peak; a blocked or dissociated P wave is not
locked to the QRS, so it survives the subtraction, even on a T wave), and the peaks of the
remaining energy in the P-wave band, outside the QRS, are the P waves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.signal import find_peaks

from ecg.beats import PVC
from ecg.dsp import bandpass

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ANALYSIS_FS = 125.0
MAX_LEADS = 3  # I, II, III of a 12-lead ECG (P waves are largest in II), every Holter lead
P_BAND_HZ = (2.0, 15.0)  # P-wave energy; no baseline, little of the QRS's sharp content
TEMPLATE_S = 0.06  # median QRS-T from 60 ms before the R peak to the median RR less...
TEMPLATE_KEEP_S = 0.30  # ...the last 300 ms before the next QRS, which hold its P wave;
#                          ending earlier would cut a slow rate's long T wave, and the step
#                          left in the rest would pass for a P wave once filtered
QRS_BLANK_S = (0.06, 0.10)  # no P wave is sought inside the QRS itself
P_SMOOTH_S = 0.06  # energy smoothed over about half a P wave (P duration 80-120 ms)
P_REFRACTORY_S = 0.24  # two P waves at least 240 ms apart (atrial rates <= 250/min)
P_RELATIVE = 0.3  # a P wave reaches 30 % of the typical P-wave energy peak...
P_NOISE = 8.0  # ...and 8 times the median energy (the noise floor)
MIN_PR_S = 0.08  # a P wave conducts to the next QRS if it comes 80-...
MAX_PR_S = 0.50  # ...500 ms before it (first-degree block rarely exceeds 400 ms)
PP_CONSTANT = 0.15  # "constant atrial rate": the two PP intervals around a blocked P wave
#                     agree within 15 % (a blocked premature P wave comes early)
MIN_PP_S = 0.6  # atrial rate < 100/min (the guideline's definitions of Mobitz I and II)
PR_CONSTANT_S = 0.03  # PR constant: within 30 ms (three times the IEC 60601-2-25 PR
#                       tolerance of 10 ms, allowing for the 8 ms sampling of P peaks)
PR_SHORTENING_S = 0.04  # Wenckebach: the PR after the blocked P wave >= 40 ms shorter
AVB3_WINDOW = 5  # RR intervals judged together for complete block (a 10 s ECG holds
#                 only 6-7 beats of a 35-40/min escape rhythm)
AVB3_MAX_BPM = 60.0  # junctional (40-60/min) or ventricular (20-40/min) escape rhythm
ESCAPE_REGULAR_CV = 0.1  # an escape rhythm is regular
ATRIAL_FASTER = 1.2  # atrial rate at least 20 % above the ventricular rate
ATRIAL_REGULAR_SHARE = 0.8  # share of PP intervals on the atrial cycle (or twice it)
P_SEEN_SHARE = 0.7  # share of the expected P waves that must have been found
CONDUCTED_SHARE = 0.5  # AV conduction when over half the QRS follow a P at one PR; in
#                        dissociation P waves fall anywhere in the cycle, so a 60 ms PR
#                        band catches one QRS in ~10 by chance


@dataclass(frozen=True)
class BlockEvent:
    """One non-conducted P wave between beats ``beat`` and ``beat + 1``, its type."""

    beat: int
    kind: str  # "avb2_mobitz1" or "avb2_mobitz2"


def p_waves(sig: FloatArray, fs: float, beats: IntArray, labels: tuple[str, ...]) -> FloatArray:
    """Times (s) of the individual P waves, conducted or not."""
    q = max(int(fs // ANALYSIS_FS), 1)
    x = np.atleast_2d(sig)[:MAX_LEADS]
    n = x.shape[-1] // q * q
    x = x[:, :n].reshape(x.shape[0], -1, q).mean(axis=-1) if q > 1 else x[:, :n]
    fs2 = fs / q
    if x.shape[-1] < int(fs2) or beats.size < 3:
        return np.zeros(0)
    r = np.asarray(np.round(beats / q), dtype=np.int64)
    # the QRS-T is subtracted before filtering: filtered, a QRS rings far beyond its template
    y = bandpass(_subtract_ventricular(x, r, labels, fs2), fs2, *P_BAND_HZ)
    width = max(int(P_SMOOTH_S * fs2), 1)
    energy = np.convolve((y**2).sum(axis=0), np.ones(width) / width, mode="same")
    lo, hi = int(QRS_BLANK_S[0] * fs2), int(QRS_BLANK_S[1] * fs2)
    for b in r:
        energy[max(b - lo, 0) : max(b + hi, 0)] = 0.0
    peaks, props = find_peaks(energy, distance=max(int(P_REFRACTORY_S * fs2), 1), height=0.0)
    if peaks.size == 0:
        return np.zeros(0)
    heights = props["peak_heights"]
    typical = float(np.percentile(heights, 80))
    floor = float(np.median(energy[energy > 0])) if (energy > 0).any() else 0.0
    keep = (heights >= P_RELATIVE * typical) & (heights >= P_NOISE * floor)
    return np.asarray(peaks[keep] / fs2, dtype=np.float64)


def _subtract_ventricular(
    y: FloatArray, r: IntArray, labels: tuple[str, ...], fs: float
) -> FloatArray:
    """``y`` minus the median QRS-T of the normal beats at each normal beat (the ventricular
    beats, with their own QRS-T, are left and their surroundings are not searched)."""
    rr = np.diff(r)
    before = int(TEMPLATE_S * fs)
    after = int(np.median(rr) - TEMPLATE_KEEP_S * fs) if rr.size else 0
    normal = np.array([lab != PVC for lab in labels], dtype=bool)
    ok = normal & (r - before >= 0) & (r + after <= y.shape[-1])
    if ok.sum() < 3 or after <= 0:
        return y
    offsets = np.arange(-before, after)
    idx = r[ok][:, None] + offsets[None, :]
    template = np.median(y[:, idx], axis=1)  # (leads, samples)
    out = y.copy()
    for b in r[ok]:
        out[:, b - before : b + after] -= template
    for b in r[~normal]:
        out[:, max(b - before, 0) : b + after] = 0.0
    return out


def _assign(p: FloatArray, r: FloatArray) -> list[FloatArray]:
    """For each RR interval k (from R k to R k+1), the P waves inside it."""
    idx = np.searchsorted(r, p)
    return [p[idx == k + 1] for k in range(r.size - 1)]


def _conducting(ps: FloatArray, r_next: float) -> float | None:
    """The P wave of an interval that conducts to the QRS ending it (its last P wave, within
    `MIN_PR_S`-`MAX_PR_S` before the QRS), or None."""
    if ps.size == 0:
        return None
    pr = r_next - float(ps[-1])
    return float(ps[-1]) if MIN_PR_S <= pr <= MAX_PR_S else None


def second_degree_events(p: FloatArray, r: FloatArray, labels: tuple[str, ...]) -> list[BlockEvent]:
    """Each single non-conducted P wave at a constant atrial rate, typed by the PR intervals
    before and after it (Mobitz I: shorter after; Mobitz II: constant)."""
    per = _assign(p, r)
    v = [lab == PVC for lab in labels]
    out = []
    for k in range(1, r.size - 1):
        ps = per[k]
        if ps.size != 2 or per[k - 1].size != 1 or any(v[k - 1 : k + 2]):
            continue
        prev = _conducting(per[k - 1], float(r[k]))
        nxt = _conducting(ps, float(r[k + 1]))
        if prev is None or nxt is None:
            continue
        blocked = float(ps[0])
        pp1, pp2 = blocked - prev, nxt - blocked
        if min(pp1, pp2) < MIN_PP_S or abs(pp1 - pp2) > PP_CONSTANT * 0.5 * (pp1 + pp2):
            continue
        pr_before, pr_after = float(r[k]) - prev, float(r[k + 1]) - nxt
        if abs(pr_before - pr_after) <= PR_CONSTANT_S:
            out.append(BlockEvent(k, "avb2_mobitz2"))
        elif pr_before - pr_after >= PR_SHORTENING_S:
            out.append(BlockEvent(k, "avb2_mobitz1"))
    return out


def regular_atrial_cycle(p: FloatArray, span_s: float) -> float | None:
    """The PP cycle (s) of P waves at a constant rate, or None: most PP intervals one or two
    cycles long (a P wave hidden in a QRS doubles one), and most expected P waves seen."""
    if p.size < 4:
        return None
    d = np.diff(p)
    pp = float(np.median(d))
    k = np.round(d / pp)
    on_cycle = (k >= 1) & (k <= 2) & (np.abs(d / pp - k) <= PP_CONSTANT)
    if float(on_cycle.mean()) < ATRIAL_REGULAR_SHARE or p.size < P_SEEN_SHARE * span_s / pp:
        return None
    return pp


def conducted_share(p: FloatArray, r: FloatArray) -> float:
    """Largest share of the QRS complexes ``r`` preceded by a P wave at one common PR
    (within `PR_CONSTANT_S`, PR `MIN_PR_S`-`MAX_PR_S`): the signature of AV conduction."""
    prs = [r_k - p[(p >= r_k - MAX_PR_S) & (p <= r_k - MIN_PR_S)] for r_k in r]
    candidates = np.concatenate(prs) if prs else np.zeros(0)
    best = 0
    for pr in candidates:
        best = max(best, sum(bool(np.any(np.abs(x - pr) <= PR_CONSTANT_S)) for x in prs))
    return best / max(r.size, 1)


def third_degree_runs(p: FloatArray, r: FloatArray, labels: tuple[str, ...]) -> list[int]:
    """Beats of the windows of `AVB3_WINDOW` RR intervals showing complete AV block: a slow
    regular escape rhythm, faster P waves at a constant rate, and no constant PR."""
    out: list[int] = []
    if r.size < AVB3_WINDOW + 1 or p.size < 4:
        return out
    v = np.array([lab == PVC for lab in labels], dtype=bool)
    for a in range(r.size - AVB3_WINDOW):
        b = a + AVB3_WINDOW
        if v[a : b + 1].any():
            continue
        rr = np.diff(r[a : b + 1])
        mean_rr = float(rr.mean())
        if 60.0 / mean_rr >= AVB3_MAX_BPM or float(rr.std()) > ESCAPE_REGULAR_CV * mean_rr:
            continue
        pp = regular_atrial_cycle(p[(p > r[a]) & (p < r[b])], float(r[b] - r[a]))
        if pp is None or mean_rr < ATRIAL_FASTER * pp:
            continue
        if conducted_share(p, r[a + 1 : b + 1]) < CONDUCTED_SHARE:
            out.extend(range(a, b + 1))
    return sorted(set(out))
