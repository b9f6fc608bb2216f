"""Pacemaker pulses in the surface ECG and the paced rhythm they make.

A pacemaker stimulus is a rectangular pulse of 0.1-2 ms (IEC 60601-2-25:2011, 201.12.4.106:
electrocardiographs must show pulses of 0.1-2 ms and 2-250 mV at the electrodes; unipolar
pacing gives surface spikes of several mV, bipolar ones often under 1 mV). No cardiac wave is
that fast: the steepest, the QRS upstroke, takes 10 ms or more to rise and as long to return.

What a recording can show depends on its sampling: at 500 Hz a sample lasts 2 ms, so a pulse is
at most one or two samples, and it is seen only when the front end did not filter it away
(many carts detect the pulse in hardware at >= 10 kHz and either mark it or remove it). Here a
spike is a jump away from the baseline within one sample followed by a return of most of it
within three samples (6 ms at 500 Hz: pulse, then the front end's recharge): the shape of an
impulse, not of a wave. Below `MIN_FS` nothing is looked for (a pulse of < 2 ms is lost
between samples or smoothed into a wave); above it a small bipolar spike may still be missed,
so "no spikes found" never means "not paced".

A beat is ventricularly paced when a spike falls from 60 ms before to 40 ms after its QRS
onset (the stimulus starts the QRS: the latency from spike to QRS is a few ms to ~40 ms, and the
spike itself may be taken as the onset), atrially paced when one falls 80-350 ms before the
onset (the stimulus starts the P wave; the AV conduction or the programmed AV delay follows).
The rhythm is named paced when most beats are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_FS = 500.0  # Hz: below this a 0.1-2 ms pulse is not resolvable in the samples
SPIKE_MV = 0.3  # smallest spike taken (a bipolar pacing spike at the skin is ~0.5-2 mV before
#                 the front end's filters; no physiological deflection moves 0.3 mV out and back
#                 within 6 ms)
RETURN_S = 0.006  # the spike's return to baseline: pulse width (<= 2 ms) plus recharge
RETURN_FRACTION = 0.5  # at least half the jump comes back within RETURN_S
MIN_LEADS = 2  # the pulse shows in several leads at once (leads share electrodes)
REFRACTORY_S = 0.1  # one pulse per chamber per beat: spikes closer than this are one event
VENTRICULAR_S = (-0.04, 0.06)  # spike before QRS onset: ventricular capture. Up to 40 ms after
#   the median beat's onset: that onset is found on 100 Hz low-passed, 10 ms smoothed samples in
#   which the spike itself is smeared over +-10-20 ms, and the walk to the flat point adds 20 ms
ATRIAL_S = (0.08, 0.35)  # spike before QRS onset: atrial capture, then AV conduction
ONSET_S = 0.06  # QRS onset before the beat's fiducial point when no median beat gives it
PACED_SHARE = 0.5  # the rhythm is paced when at least half the beats are


@dataclass(frozen=True)
class Pacing:
    """Pacemaker spikes found and which beats they pace."""

    resolvable: bool  # the sampling rate allows spikes to be seen at all
    spikes: tuple[int, ...]  # sample indices
    ventricular: tuple[bool, ...]  # per beat: a spike just before its QRS
    atrial: tuple[bool, ...]  # per beat: a spike before its P wave

    @property
    def ventricular_share(self) -> float:
        """Share of beats ventricularly paced."""
        return float(np.mean(self.ventricular)) if self.ventricular else 0.0

    @property
    def atrial_share(self) -> float:
        """Share of beats atrially paced."""
        return float(np.mean(self.atrial)) if self.atrial else 0.0

    @property
    def mode(self) -> str | None:
        """``"AV"``, ``"V"``, ``"A"`` (the chambers paced in most beats) or None."""
        v, a = self.ventricular_share >= PACED_SHARE, self.atrial_share >= PACED_SHARE
        return "AV" if v and a else "V" if v else "A" if a else None


def spike_strength(x: FloatArray, fs: float) -> FloatArray:
    """Per lead and sample: the size of an impulse peaking there (mV, 0 where none).

    The jump into the sample from the one before, provided at least `RETURN_FRACTION` of it
    comes back within `RETURN_S` (same sign): the smaller of the jump and the return."""
    k = max(round(RETURN_S * fs), 1)
    n = x.shape[-1]
    out = np.zeros_like(x)
    if n < k + 2:
        return out
    jump = x[:, 1 : n - k] - x[:, : n - k - 1]
    ret = x[:, 1 : n - k] - x[:, 1 + k : n]
    # the furthest point reached back toward the baseline within k samples
    for j in range(1, k + 1):
        back = x[:, 1 : n - k] - x[:, 1 + j : n - k + j]
        ret = np.where(np.sign(jump) > 0, np.maximum(ret, back), np.minimum(ret, back))
    same = np.sign(jump) == np.sign(ret)
    size = np.where(
        same & (np.abs(ret) >= RETURN_FRACTION * np.abs(jump)),
        np.minimum(np.abs(jump), np.abs(ret)),
        0.0,
    )
    out[:, 1 : n - k] = size
    return out


def find_spikes(x: FloatArray, fs: float) -> list[int]:
    """Sample indices of pacemaker spikes in the raw (unfiltered) mV samples ``x``."""
    if fs < MIN_FS:
        return []
    strength = spike_strength(np.asarray(x, dtype=np.float64), fs)
    leads_hit = (strength >= SPIKE_MV).sum(axis=0)
    candidates = np.nonzero(leads_hit >= min(MIN_LEADS, x.shape[0]))[0]
    out: list[int] = []
    gap = int(REFRACTORY_S * fs)
    total = strength.sum(axis=0)
    for i in candidates:
        if out and i - out[-1] < gap:
            if total[i] > total[out[-1]]:
                out[-1] = int(i)
            continue
        out.append(int(i))
    return out


def pacing(
    x: FloatArray | None,
    fs: float,
    beats: IntArray,
    onset_s: float | None = None,
    found: list[int] | None = None,
) -> Pacing:
    """Spikes of ``x`` (raw mV, leads x samples; or those ``found`` already) and the beats they
    pace; ``onset_s``: how long the QRS onset comes before each beat's fiducial point (from the
    median beat)."""
    if fs < MIN_FS:
        return Pacing(False, (), (), ())
    if found is None:
        found = [] if x is None else find_spikes(x, fs)
    spikes = np.asarray(found, dtype=np.int64)
    vent, atr = [], []
    for b in beats:
        lead_s = (b - spikes) / fs - (ONSET_S if onset_s is None else onset_s)
        vent.append(bool(np.any((lead_s >= VENTRICULAR_S[0]) & (lead_s <= VENTRICULAR_S[1]))))
        atr.append(bool(np.any((lead_s >= ATRIAL_S[0]) & (lead_s <= ATRIAL_S[1]))))
    result = Pacing(True, tuple(int(s) for s in spikes), tuple(vent), tuple(atr))
    if spikes.size:
        logger.debug(
            "%d pacing spikes; paced beats: ventricular %.0f %%, atrial %.0f %%",
            spikes.size, 100 * result.ventricular_share, 100 * result.atrial_share,
        )  # fmt: skip
    return result


def remove_spikes(x: FloatArray, fs: float, spikes: list[int]) -> FloatArray:
    """``x`` with each spike and its recharge (`RETURN_S`) bridged by a straight line, as
    electrocardiographs remove the pulse after marking it: the filters would otherwise smear
    it into a wave that the QRS detector and the wave boundaries read as cardiac."""
    if not spikes:
        return x
    out = np.array(x, dtype=np.float64, copy=True)
    k = max(round(RETURN_S * fs), 1)
    n = out.shape[-1]
    for i in spikes:
        a, b = max(i - 1, 0), min(i + k + 1, n - 1)
        if b - a < 2:
            continue
        ramp = np.linspace(0.0, 1.0, b - a + 1)[1:-1]
        out[:, a + 1 : b] = out[:, a : a + 1] + (out[:, b : b + 1] - out[:, a : a + 1]) * ramp
    return out
