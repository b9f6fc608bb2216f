"""Atrial activity in the T-Q intervals: a dominant atrial rate reveals flutter waves.

Between the end of one T wave and the next QRS onset sinus rhythm shows one P wave on a flat
line, whose spectrum is broad; flutter waves are a continuous regular sawtooth at
200-400 per minute, whose spectrum has one narrow peak. Only the T-Q intervals are used, so
QRS complexes and T waves (whose harmonics fall in the same band) do not mislead.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FLUTTER_BAND_HZ = (3.3, 6.7)  # 200-400 per minute
MIN_PEAK_SHARE = 0.45
MIN_TQ_S = 1.0
MIN_SEGMENT_S = 0.25
MIN_RMS_MV = 0.03


def _segments(beats: IntArray, after: int, before: int, n: int, fs: float) -> list[slice]:
    out = []
    for a, b in itertools.pairwise(beats):
        lo, hi = int(a) + after, int(b) - before
        if hi - lo >= MIN_SEGMENT_S * fs and lo >= 0 and hi <= n:
            out.append(slice(lo, hi))
    return out


def atrial_rate(
    sig: FloatArray, fs: float, beats: IntArray, t_end_after_r: int, qrs_on_before_r: int
) -> float | None:
    """Dominant atrial rate (per minute) of the T-Q intervals, or None if none dominates.

    Parameters
    ----------
    sig:
        Cleaned leads ``(n_leads, n_samples)`` in mV.
    beats:
        QRS fiducials.
    t_end_after_r, qrs_on_before_r:
        Samples from the fiducial to the T end and from the QRS onset to the fiducial.
    """
    sig2 = np.atleast_2d(sig)
    guard = int(0.02 * fs)
    segments = _segments(beats, t_end_after_r + guard, qrs_on_before_r + guard, sig2.shape[-1], fs)
    if sum(s.stop - s.start for s in segments) < MIN_TQ_S * fs:
        return None
    nfft = int(2 ** np.ceil(np.log2(2 * fs)))
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    spectrum = np.zeros(freqs.size)
    squares, count = 0.0, 0
    for seg in segments:
        x = sig2[:, seg]
        t = np.arange(x.shape[-1])
        coeffs = np.polyfit(t, x.T, 1)  # remove each lead's linear trend
        x = x - (np.outer(coeffs[0], t) + coeffs[1][:, None])
        squares += float((x**2).sum())
        count += x.size
        spectrum += (np.abs(np.fft.rfft(x * np.hanning(x.shape[-1]), nfft, axis=-1)) ** 2).sum(0)
    if np.sqrt(squares / count) < MIN_RMS_MV:
        return None
    band = (freqs >= 2.0) & (freqs <= 12.0)
    flutter = (freqs >= FLUTTER_BAND_HZ[0]) & (freqs <= FLUTTER_BAND_HZ[1])
    peak = int(np.argmax(np.where(flutter, spectrum, 0.0)))
    share = float(spectrum[np.abs(freqs - freqs[peak]) <= 0.5].sum() / spectrum[band].sum())
    return float(freqs[peak] * 60.0) if share >= MIN_PEAK_SHARE else None
