"""Atrial activity between the QRS complexes: how organised it is, and its cycle length.

Atrial flutter is one macro-reentrant circuit: its F waves repeat with a constant cycle
length of 170-250 ms (240-340 per minute, within a few ms over a whole strip), and the AV
node conducts one F wave in 2, 3 or 4, so every RR interval is a whole number of F cycles.
Atrial fibrillation is many wandering wavelets: the f waves (350-600 per minute) change
frequency and amplitude from cycle to cycle, so their self-similarity is lost within one or
two cycles and the RR intervals are not multiples of anything. Sinus rhythm shows one P
wave per RR interval on a flat baseline.

Two measurements follow:

* **organisation** of the T-Q intervals (from each T end to the next QRS onset, where the
  ventricles are silent): the QRS complexes are bridged by straight lines before band-pass
  filtering (so they do not ring into the T-Q intervals), then the autocorrelation of the
  T-Q samples with the T-Q samples one lag later, pooled over leads and beats, is computed
  for lags of 170-250 ms. Flutter gives a clear interior peak near 1 at its cycle length;
  AF decorrelates; a sinus T-Q interval holds a single P wave and no repeat.
* **half-RR repetition** for fixed 2:1 block, where the T-Q interval is too short to see a
  whole F cycle and the second F wave hides in the QRS or T wave. With only the QRS masked,
  the signal must repeat itself half an RR interval later, both in the F-wave fundamental
  band and in the band of its sharp deflections: true periodicity at RR/2 repeats in every
  band, while the chance arrangement of P and T waves in sinus tachycardia repeats in one
  band at most. At fast 2:1 rates (ventricles >= ~160/min) the T wave sits half an RR before
  the next QRS and outweighs the F waves, so with three or more leads the T wave is removed
  first, by its spatial direction: repolarisation is a narrow T loop (one or two dominant
  directions; Acar et al., Circulation 1999, "T-wave loop" / TCRT), which carries far more
  power during the ST-T than during the T-Q interval, whereas continuous atrial activity
  (F or f waves) and noise carry about the same power in both and P waves less in the ST-T.
  Those directions are found by a generalised eigendecomposition of the two windows'
  spatial covariances and projected out. A beat-aligned QRS-T template cannot be subtracted
  instead: in fixed 2:1 block the F waves are locked to the QRS (each QRS follows its F
  wave by a constant AV delay), so a template holds them too; nor can the whole QRS-T be
  masked: no sample pair half an RR apart would then remain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.linalg

from ecg.dsp import bandpass

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ANALYSIS_FS = 250.0  # atrial waves need no more; decimating keeps the analysis fast
CYCLE_RANGE_S = (0.170, 0.255)  # flutter cycle lengths: 235-350 per minute
TQ_BAND_HZ = (3.0, 20.0)  # F-wave fundamental (4-6 Hz) and harmonics; no baseline, no mains
SHARP_BAND_HZ = (10.0, 30.0)  # the steep limbs of F waves; T and P waves have little here
QRS_BEFORE_R_S = (0.03, 0.08)  # QRS onset to R, clipped to a physiological range
QRS_AFTER_R_S = 0.08  # R to the end of the QRS for the half-RR test (fiducials widen in 2:1)
GUARD_S = 0.03  # margin around each masked QRS / QRS-T
MIN_CYCLES_SEEN = 1.5  # a T-Q interval counts at a lag only if it spans 1.5 such cycles: a
#                        repeat is judged on half a cycle at least, never on the two ends of
#                        a short interval holding one P wave
DEFAULT_QT_AFTER_R_S = 0.35  # used when the median beat gave no T end
REPOLARISATION_POWER_RATIO = 4.0  # a spatial direction with >= 4x (6 dB) more power per
#   sample during the ST-T than during the T-Q is ventricular repolarisation; atrial F / f
#   waves and noise run through both windows with about equal power (ratio ~1), P waves
#   have less in the ST-T (ratio < 1)


@dataclass(frozen=True)
class AtrialActivity:
    """Atrial measurements of one record.

    Attributes
    ----------
    cycle_s:
        Lag (s) of the autocorrelation peak of the T-Q intervals within `CYCLE_RANGE_S`, or
        None when the peak lies at the edge of that range (no cycle inside it).
    organisation:
        Autocorrelation at ``cycle_s`` (1 = identical waves one cycle apart).
    support_s:
        Duration of T-Q samples that had a T-Q partner one cycle later.
    rms_mv:
        RMS of the band-passed T-Q samples (mV): atrial activity above the noise.
    half_rr:
        Half-RR repetition in the F-wave band and in the sharp band, or None.
    """

    cycle_s: float | None
    organisation: float
    support_s: float
    rms_mv: float
    half_rr: tuple[float, float] | None

    @property
    def rate_bpm(self) -> float | None:
        """Atrial rate per minute of the organised activity."""
        return None if self.cycle_s is None else 60.0 / self.cycle_s


def _decimate(sig: FloatArray, fs: float) -> tuple[FloatArray, float, int]:
    """Block means down to about `ANALYSIS_FS` (an anti-alias filter good enough here)."""
    q = max(int(fs // ANALYSIS_FS), 1)
    n = sig.shape[-1] // q * q
    return sig[:, :n].reshape(sig.shape[0], -1, q).mean(axis=-1), fs / q, q


def _bridge(sig: FloatArray, beats: IntArray, before: int, after: int) -> FloatArray:
    """Copy of ``sig`` with each ``[beat - before, beat + after]`` replaced by a straight line,
    so filtering afterwards does not spread the QRS energy into its surroundings."""
    out = sig.copy()
    last = sig.shape[-1] - 1
    for b in beats:
        lo, hi = max(int(b) - before, 0), min(int(b) + after, last)
        if hi > lo:
            ramp = np.linspace(0.0, 1.0, hi - lo + 1)
            out[:, lo : hi + 1] = sig[:, lo, None] + (sig[:, hi] - sig[:, lo])[:, None] * ramp
    return out


def _mask(n: int, beats: IntArray, before: int, after: int) -> FloatArray:
    """1 outside ``[beat - before, beat + after)`` of every beat and before the first / after
    the last beat, 0 elsewhere."""
    w = np.zeros(n)
    if beats.size < 2:
        return w
    w[int(beats[0]) : int(beats[-1])] = 1.0
    for b in beats:
        w[max(int(b) - before, 0) : max(int(b) + after, 0)] = 0.0
    return w


def _run_lengths(w: FloatArray) -> FloatArray:
    """For each sample, the length of the run of ones of ``w`` it belongs to (0 outside)."""
    edges = np.diff(np.concatenate([[0], (w > 0).astype(np.int8), [0]]))
    starts, stops = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    out = np.zeros(w.size)
    for a, b in zip(starts, stops, strict=True):
        out[a:b] = b - a
    return out


def gapped_autocorrelation(
    y: FloatArray, w: FloatArray, lags: IntArray, min_cycles: float = 0.0
) -> tuple[FloatArray, FloatArray]:
    """Normalised autocorrelation of the samples where ``w`` is 1 with those ``lag`` later.

    Returns the correlations and the number of sample pairs at each lag. Only pairs whose
    two samples are both usable count, pooled over all leads, and only within runs of
    usable samples at least ``min_cycles`` lags long.
    """
    yw = y * w
    sq = yw**2
    runs = _run_lengths(w) if min_cycles else np.full(w.size, np.inf)
    corr = np.zeros(lags.size)
    pairs = np.zeros(lags.size)
    for i, lag in enumerate(lags):
        long_enough = (runs >= min_cycles * lag).astype(np.float64)
        both = w[:-lag] * w[lag:] * long_enough[:-lag] * long_enough[lag:]
        num = float((yw[:, :-lag] * yw[:, lag:] * both).sum())
        den = float(np.sqrt((sq[:, :-lag] * both).sum() * (sq[:, lag:] * both).sum()))
        corr[i] = num / den if den > 0 else 0.0
        pairs[i] = float(both.sum())
    return corr, pairs


def _peak(corr: FloatArray, lags: IntArray) -> float | None:
    """Lag of the highest interior peak refined by a parabola, None if the maximum is at an
    edge of the searched range."""
    i = int(np.argmax(corr))
    if i == 0 or i == corr.size - 1:
        return None
    a, b, c = corr[i - 1], corr[i], corr[i + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return float(lags[i] + np.clip(shift, -0.5, 0.5))


def _tq_organisation(
    x: FloatArray, fs: float, beats: IntArray, before: int, t_end: int
) -> tuple[float | None, float, float, float]:
    """(cycle s, organisation, support s, RMS mV) of the T-Q intervals."""
    guard = int(GUARD_S * fs)
    y = bandpass(_bridge(x, beats, before + guard, t_end + guard), fs, *TQ_BAND_HZ)
    w = _mask(x.shape[-1], beats, before + guard, t_end + guard)
    lags = np.arange(int(CYCLE_RANGE_S[0] * fs), int(CYCLE_RANGE_S[1] * fs) + 1)
    corr, pairs = gapped_autocorrelation(y, w, lags, MIN_CYCLES_SEEN)
    n_used = float(w.sum())
    rms = float(np.sqrt(((y * w) ** 2).sum() / (n_used * y.shape[0]))) if n_used else 0.0
    lag = _peak(corr, lags)
    if lag is None:
        return None, float(corr.max()), 0.0, rms
    i = round(lag) - int(lags[0])
    return lag / fs, float(corr[i]), float(pairs[i]) / fs, rms


def _windows(n: int, beats: IntArray, starts: IntArray, stops: IntArray) -> npt.NDArray[np.bool_]:
    """True in ``[beat + start, beat + stop)`` for each beat (stop may be per beat)."""
    w = np.zeros(n, dtype=bool)
    for b, lo, hi in zip(beats, starts, stops, strict=True):
        lo, hi = max(int(b + lo), 0), min(int(b + hi), n)
        if hi > lo:
            w[lo:hi] = True
    return w


def repolarisation_free(
    y: FloatArray, beats: IntArray, after: int, before: int, t_end: int, guard: int
) -> FloatArray | None:
    """Projector ``(leads, leads)`` that removes the spatial directions of the T wave.

    ``y`` is the band-passed signal with the QRS bridged. The ST-T window runs from the end
    of the QRS (``after``) to the T end, the T-Q window from the T end (plus ``guard``) to
    the next QRS onset (minus ``guard``). Directions whose power per sample is at least
    `REPOLARISATION_POWER_RATIO` times larger in the ST-T than in the T-Q are removed.
    None when there is nothing to remove, or nothing would be left (one or two leads
    carrying only the T wave), or the T-Q interval is empty.
    """
    k, n = y.shape
    if k < 3 or beats.size < 3:
        return None
    first = beats[:-1]
    rr = np.diff(beats)
    st = _windows(n, first, np.full(first.size, after), np.full(first.size, t_end))
    tq = _windows(n, first, np.full(first.size, t_end + guard), rr - before - guard)
    n_st, n_tq = int(st.sum()), int(tq.sum())
    if n_st < k or n_tq < k:
        return None
    c_st = y[:, st] @ y[:, st].T / n_st
    c_tq = y[:, tq] @ y[:, tq].T / n_tq
    scale = float(np.trace(c_tq)) / k
    if scale <= 0:
        return None
    c_tq = c_tq + 1e-3 * scale * np.eye(k)  # limb leads are linear combinations: rank < k
    ratio, vecs = scipy.linalg.eigh(c_st, c_tq)  # vecs.T @ c_tq @ vecs = I
    keep = ratio < REPOLARISATION_POWER_RATIO
    if keep.all() or not keep.any():
        return None
    mixing = c_tq @ vecs  # the inverse of vecs.T: lead signals from the components
    return np.asarray(mixing[:, keep] @ vecs[:, keep].T)


def _half_rr(
    x: FloatArray, fs: float, beats: IntArray, before: int, t_end: int
) -> tuple[float, float]:
    """Half-RR repetition with only the QRS masked, in the F-wave band and the sharp band,
    after the T wave's spatial directions are projected out (`repolarisation_free`)."""
    after = int(QRS_AFTER_R_S * fs)
    bridged = _bridge(x, beats, before, after)
    w = _mask(x.shape[-1], beats, before, after)
    half = round(float(np.median(np.diff(beats))) / 2)
    lags = np.arange(half - 1, half + 2)
    bands = [bandpass(bridged, fs, *band) for band in (TQ_BAND_HZ, SHARP_BAND_HZ)]
    projector = repolarisation_free(bands[0], beats, after, before, t_end, int(GUARD_S * fs))
    if projector is not None:
        bands = [projector @ y for y in bands]
    out = [float(gapped_autocorrelation(y, w, lags)[0].max()) for y in bands]
    return out[0], out[1]


def atrial_activity(
    sig: FloatArray,
    fs: float,
    beats: IntArray,
    qrs_on_before_r: int,
    t_end_after_r: int | None,
) -> AtrialActivity | None:
    """Organisation and cycle length of the atrial activity of a cleaned ECG.

    Parameters
    ----------
    sig:
        Cleaned leads ``(n_leads, n_samples)`` in mV.
    fs:
        Sampling rate (Hz).
    beats:
        QRS fiducials (samples), at least 4.
    qrs_on_before_r, t_end_after_r:
        Samples from the QRS onset to the fiducial, and from the fiducial to the T end, in
        the median beat (None when no T end was found).
    """
    if beats.size < 4:
        return None
    x, fs2, q = _decimate(np.atleast_2d(sig), fs)
    b = np.asarray(beats // q, dtype=np.int64)
    lo, hi = QRS_BEFORE_R_S
    before = int(np.clip(qrs_on_before_r / fs, lo, hi) * fs2)
    t_end = int(((t_end_after_r / fs) if t_end_after_r else DEFAULT_QT_AFTER_R_S) * fs2)
    cycle, organisation, support, rms = _tq_organisation(x, fs2, b, before, t_end)
    half = _half_rr(x, fs2, b, before, t_end)
    logger.debug(
        "atrial: cycle=%s organisation=%.2f support=%.2f s rms=%.3f half_rr=%s",
        cycle, organisation, support, rms, half,
    )  # fmt: skip
    return AtrialActivity(cycle, organisation, support, rms, half)
