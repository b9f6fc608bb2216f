"""Global fiducial points of a 12-lead median beat, as IEC 60601-2-25 defines global intervals.

One onset and one offset per wave for all leads together: the earliest onset and the latest
offset in any lead. For the QRS complex and the P wave this is where the spatial velocity (the
length of the vector of all lead slopes) leaves and regains its isoelectric floor: the first
crossing of a small fraction of the wave's velocity excursion, then on down the slope to the
flattest point (a wave begins where the tracing stops being flat, not where it is already
steep). The T wave ends where its slowest-ending lead ends: per lead, the tangent at the
steepest point of the descending limb meets the isoelectric level (Lepeschkin and Surawicz,
Circulation 1952; the method of the CSE and of most electrocardiographs), with a biphasic T
followed to its second lobe; the latest of these over the leads that carry a T wave.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import uniform_filter1d

from ecg.dsp import lowpass

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FiducialConfig:
    """Parameters of the search (fractions of a wave's own excursion, seconds, mV).

    ``edge_fraction`` of the QRS velocity (5 %) and ``p_edge_fraction`` of the P velocity
    (10 %: a slower, noisier wave) mark the first crossing; ``settle_s`` bounds the walk down
    to the flattest point. ``p_min_mv`` is the smallest P wave (vector magnitude) taken as one:
    IEC 60601-2-25 requires waves of 20-30 uV to be measured. ``p_consistency`` is the
    beat-to-beat correlation a P wave locked to the QRS keeps (AF f waves and a preceding T
    that moves with an irregular RR do not). T: leads whose T is at least ``t_lead_fraction``
    of the largest count; an end more than ``t_outlier_s`` after the median end of the leads
    is a U wave or noise; an opposite lobe of ``t_second_lobe`` of the first makes a T biphasic.
    """

    edge_fraction: float = 0.05
    p_edge_fraction: float = 0.1
    settle_s: float = 0.02
    p_min_mv: float = 0.03
    p_consistency: float = 0.5
    t_min_mv: float = 0.05
    t_lead_fraction: float = 0.1
    t_outlier_s: float = 0.06
    t_second_lobe: float = 0.35

    def __post_init__(self) -> None:
        for name in (
            "edge_fraction", "p_edge_fraction", "p_consistency", "t_lead_fraction",
            "t_second_lobe",
        ):  # fmt: skip
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be in (0, 1)")


def spatial_velocity(
    med: FloatArray, fs: float, cutoff: float | None, smooth_s: float = 0.01
) -> FloatArray:
    """Length of the vector of lead slopes (mV/s), low-passed at ``cutoff`` Hz first."""
    x = lowpass(med, fs, cutoff) if cutoff else med
    slope = np.gradient(x, axis=-1) * fs
    velocity = np.sqrt((slope**2).sum(axis=0))
    return np.asarray(uniform_filter1d(velocity, size=max(int(smooth_s * fs), 1)))


def _walk_back(v: FloatArray, start: int, thr: float, lo: int, settle: int) -> int:
    """From ``start`` back while above ``thr``, then down the slope to the flattest point."""
    k = start
    while k > lo and v[k - 1] > thr:
        k -= 1
    stop = max(k - settle, lo)
    while k > stop and v[k - 1] < v[k]:
        k -= 1
    return k


def _walk_forward(v: FloatArray, start: int, thr: float, hi: int, settle: int) -> int:
    """From ``start`` forward while above ``thr``, then down the slope to the flattest point."""
    j = start
    while j < hi and v[j + 1] > thr:
        j += 1
    stop = min(j + settle, hi)
    while j < stop and v[j + 1] < v[j]:
        j += 1
    return j


def qrs_bounds(
    med: FloatArray, r: int, fs: float, rr_ms: float | None, conf: FiducialConfig
) -> tuple[int, int]:
    """Global QRS onset and offset (samples) around the beat's fiducial ``r``."""
    sv = spatial_velocity(med, fs, 60.0)
    n = sv.size
    w = int(0.08 * fs)
    peak_i = max(r - w, 0) + int(np.argmax(sv[max(r - w, 0) : min(r + w, n)]))
    peak = float(sv[peak_i])
    lo = max(r - int(0.15 * fs), 0)
    iso_on = float(sv[lo : max(r - int(0.02 * fs), lo + 1)].min())
    hi = min(r + int(0.2 * fs), n - 1)
    iso_off = float(sv[min(r + int(0.02 * fs), hi - 1) : hi].min())
    settle = int(conf.settle_s * fs)
    on = _walk_back(sv, peak_i, iso_on + conf.edge_fraction * (peak - iso_on), lo, settle)
    # the last point of QRS activity (a slow terminal R' or S wave included) within 120 ms,
    # or 30 % of the RR interval at fast rates (where the T wave follows closely)
    level = iso_off + 0.1 * (peak - iso_off)
    reach = int(min(0.12, 0.3 * rr_ms / 1000.0 if rr_ms else 0.12) * fs)
    late = np.nonzero(sv[peak_i : min(r + reach, n)] > level)[0]
    last = peak_i + (int(late[-1]) if late.size else 0)
    off = _walk_forward(sv, last, iso_off + conf.edge_fraction * (peak - iso_off), hi, settle)
    return on, off


def isoelectric(med: FloatArray, qrs_on: int, fs: float) -> FloatArray:
    """Isoelectric level per lead: the PR segment just before QRS onset."""
    lo = max(qrs_on - int(0.02 * fs), 0)
    hi = max(qrs_on - int(0.004 * fs), lo + 1)
    return np.asarray(med[:, lo:hi].mean(axis=1))


def p_window(qrs_on: int, r: int, fs: float, rr_ms: float | None) -> tuple[int, int] | None:
    """Where a P wave may lie: up to 300 ms before QRS onset, within the last 55 % of the RR."""
    lo = max(qrs_on - int(0.3 * fs), 0)
    if rr_ms:
        lo = max(lo, r - int(0.55 * rr_ms * fs / 1000.0))
    hi = qrs_on - int(0.02 * fs)
    return (lo, hi) if hi - lo >= int(0.06 * fs) else None


def p_consistent(
    windows: FloatArray, med: FloatArray, span: tuple[int, int], conf: FiducialConfig
) -> bool:
    """Whether the atrial wave before the QRS repeats beat after beat (a P wave locked to the
    QRS) rather than changing (AF f waves, flutter with variable block, an irregular RR that
    moves the previous T wave): median correlation of each beat with the median beat."""
    if windows.shape[0] < 3:
        return True
    lo, hi = span
    ref = med[:, lo:hi] - med[:, lo:hi].mean(axis=1, keepdims=True)
    seg = windows[:, :, lo:hi] - windows[:, :, lo:hi].mean(axis=2, keepdims=True)
    num = np.einsum("blw,lw->b", seg, ref)
    den = np.sqrt((seg**2).sum(axis=(1, 2)) * float((ref**2).sum())) + 1e-12
    return float(np.median(num / den)) >= conf.p_consistency


def p_bounds(
    med: FloatArray, span: tuple[int, int], fs: float, conf: FiducialConfig
) -> tuple[int, int] | None:
    """P onset and offset in ``span`` (baseline-corrected median beat), or None."""
    lo, hi = span
    x = lowpass(med, fs, 25.0)
    mag = np.sqrt((x[:, lo:hi] ** 2).sum(axis=0))
    peak = int(np.argmax(mag))
    if peak == 0 or mag[peak] - min(mag[: peak + 1].min(), mag[peak:].min()) < conf.p_min_mv:
        return None
    v = spatial_velocity(x, fs, None)[lo : hi + int(0.01 * fs)]
    rise = v[: peak + 1]
    top = int(np.argmax(rise))
    floor = float(rise[: top + 1].min())
    on = _walk_back(rise, top, floor + conf.p_edge_fraction * (float(rise[top]) - floor), 0, 0)
    fall = v[peak:]
    top2 = int(np.argmax(fall))
    floor2 = float(fall[top2:].min())
    thr2 = floor2 + conf.p_edge_fraction * (float(fall[top2]) - floor2)
    off = peak + _walk_forward(fall, top2, thr2, fall.size - 1, 0)
    # a P wave is 40-200 ms long and rises from a flat segment: one that starts at the window's
    # edge while the tracing is still moving there is the previous T wave's tail or f waves
    # (AHA/ACCF/HRS 2009 part V: P > 120 ms is left atrial abnormality; none lasts 200 ms)
    busy_edge = on < int(0.02 * fs) and mag[0] > 0.25 * mag[peak]
    if not int(0.04 * fs) <= off - on <= int(0.2 * fs) or busy_edge:
        return None
    return lo + on, min(lo + off, hi + int(0.02 * fs) - 1)


def _tangent_end(x: FloatArray, peak: int, hi: int) -> float | None:
    """Where the tangent at the steepest descent after ``peak`` meets zero (one lead)."""
    y = np.sign(x[peak]) * x[peak:hi]
    if y.size < 5 or y[0] <= 0:
        return None
    slope = np.gradient(y)
    below = np.nonzero(y < 0.2 * y[0])[0]
    limb = slope[: int(below[0]) + 1] if below.size else slope
    steep = int(np.argmin(limb))
    if limb[steep] >= 0:
        return None
    return peak + steep + float(y[steep]) / -float(limb[steep])


def _lead_t_end(x: FloatArray, peak: int, hi: int, fs: float, conf: FiducialConfig) -> float | None:
    """Tangent T end of one lead, following a biphasic T to the end of its second lobe."""
    end = _tangent_end(x, peak, hi)
    if end is None:
        return None
    a, b = int(end), min(int(end + 0.12 * fs), hi)
    if b - a > 5:
        second = -np.sign(x[peak]) * x[a:b]
        k = int(np.argmax(second))
        if 0 < k < second.size - 1 and second[k] >= max(
            conf.t_second_lobe * abs(x[peak]), conf.t_min_mv
        ):
            return _tangent_end(x, a + k, hi) or end
    return end


def t_bounds(
    med: FloatArray, qrs_off: int, r: int, fs: float, rr_ms: float | None, conf: FiducialConfig
) -> tuple[int, int, int] | None:
    """T peak (spatial), global T end (latest lead) and the typical lead's T end (median of
    the leads' plain tangent ends: the QT the long-QT limits were set on, measured by the
    tangent in II or V5, Postema and Wilde, Curr Cardiol Rev 2014), of a baseline-corrected
    median beat."""
    x = lowpass(med, fs, 20.0)
    lo = qrs_off + int(0.06 * fs)
    hi = min(med.shape[-1] - 1, qrs_off + int(0.6 * fs))
    if rr_ms:
        hi = min(hi, r + int(0.7 * rr_ms * fs / 1000.0))
    if hi - lo < int(0.1 * fs):
        return None
    mag = np.sqrt((x[:, lo:hi] ** 2).sum(axis=0))
    t_peak = lo + int(np.argmax(mag))
    w = int(0.06 * fs)
    a, b = max(t_peak - w, lo), min(t_peak + w, hi)
    peaks = a + np.argmax(np.abs(x[:, a:b]), axis=1)
    amps = np.abs(x[np.arange(x.shape[0]), peaks])
    if float(amps.max()) < conf.t_min_mv:
        return None
    need = max(conf.t_lead_fraction * float(amps.max()), conf.t_min_mv)
    ends = [
        e for k in range(x.shape[0]) if amps[k] >= need
        and (e := _lead_t_end(x[k], int(peaks[k]), hi, fs, conf)) is not None
    ]  # fmt: skip
    if not ends:
        return None
    arr = np.sort(np.asarray(ends))
    kept = arr[arr <= float(np.median(arr)) + conf.t_outlier_s * fs]
    plain = [
        e for k in range(x.shape[0]) if amps[k] >= need
        and (e := _tangent_end(x[k], int(peaks[k]), hi)) is not None
    ]  # fmt: skip
    typical = float(np.median(plain)) if plain else float(kept[-1])
    return t_peak, int(min(round(float(kept[-1])), hi)), int(min(round(typical), hi))
