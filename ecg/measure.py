"""12-lead measurements on median beats with global fiducial points.

Beats of the dominant (normal) type are aligned and averaged sample by sample (median) per
lead. Fiducials are global, from all leads together: QRS onset and offset where the spatial
velocity leaves and returns to the isoelectric level, P from the spatial magnitude of the
P-wave window, T end by the tangent method on the spatial magnitude of the T wave.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import uniform_filter1d

from ecg.beats import NORMAL, beat_windows
from ecg.dsp import lowpass

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SQRT3_2 = math.sqrt(3.0) / 2.0


@dataclass(frozen=True)
class MeasureConfig:
    """Thresholds of the fiducial search (fractions of peak spatial velocity or magnitude)."""

    qrs_onset: float = 0.03
    qrs_offset: float = 0.03
    p_fraction: float = 0.2
    p_min_mv: float = 0.04
    t_min_mv: float = 0.05

    def __post_init__(self) -> None:
        for name in ("qrs_onset", "qrs_offset", "p_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be in (0, 1)")


@dataclass(frozen=True)
class Fiducials:
    """Sample indices within the median beat (None when a wave was not found)."""

    r: int
    qrs_on: int
    qrs_off: int
    p_on: int | None
    p_off: int | None
    t_peak: int | None
    t_end: int | None


@dataclass(frozen=True)
class Intervals:
    """Global intervals (ms) and corrected QT by four formulas."""

    rr_ms: float | None = None
    p_ms: float | None = None
    pr_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_bazett_ms: float | None = None
    qtc_fridericia_ms: float | None = None
    qtc_framingham_ms: float | None = None
    qtc_hodges_ms: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        """JSON-safe form, rounded to 1 ms."""
        return {k: None if v is None else round(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Axes:
    """Frontal-plane axes in degrees (-180..180)."""

    p: float | None = None
    qrs: float | None = None
    t: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        """JSON-safe form, rounded to 1 degree."""
        return {k: None if v is None else round(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class StLevel:
    """ST deviation of one lead (mV) at the J point and 60 ms after it."""

    lead: str
    j_mv: float
    j60_mv: float

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form, rounded to 10 uV."""
        return {"lead": self.lead, "j_mv": round(self.j_mv, 3), "j60_mv": round(self.j60_mv, 3)}


@dataclass(frozen=True)
class Measurements:
    """Everything measured on the median beats."""

    intervals: Intervals
    axes: Axes
    st: tuple[StLevel, ...]
    fiducials: Fiducials | None
    median_beats: FloatArray | None  # (n_leads, n) in mV, baseline-corrected
    p_present: bool
    qrs_amplitude_mv: dict[str, float]


def qtc(qt_ms: float, rr_ms: float) -> tuple[float, float, float, float]:
    """QTc by Bazett, Fridericia, Framingham and Hodges (ms)."""
    rr_s = rr_ms / 1000.0
    hr = 60.0 / rr_s
    return (
        qt_ms / math.sqrt(rr_s),
        qt_ms / rr_s ** (1.0 / 3.0),
        qt_ms + 154.0 * (1.0 - rr_s),
        qt_ms + 1.75 * (hr - 60.0),
    )


def frontal_axis(lead_i: float, lead_avf: float) -> float | None:
    """Frontal axis (degrees) from net deflections of leads I and aVF (aVF = sqrt(3)/2 H_y)."""
    if abs(lead_i) < 1e-9 and abs(lead_avf) < 1e-9:
        return None
    return math.degrees(math.atan2(lead_avf / SQRT3_2, lead_i))


def _align(windows: FloatArray, center: int, half: int, max_shift: int) -> FloatArray:
    """Shift each beat (up to ``max_shift``) to best match the median QRS; returns windows."""
    if max_shift < 1 or len(windows) < 3:
        return windows
    lo, hi = center - half, center + half + 1
    template = np.median(windows[:, :, lo:hi], axis=0)
    shifts = range(-max_shift, max_shift + 1)
    scores = np.stack(
        [np.einsum("blw,lw->b", windows[:, :, lo + s : hi + s], template) for s in shifts], axis=1
    )
    best = np.asarray(shifts)[np.argmax(scores, axis=1)]
    out = np.empty_like(windows)
    for k, s in enumerate(best):
        out[k] = np.roll(windows[k], -int(s), axis=-1)
    return out


def median_beats(
    sig: FloatArray, fs: float, beats: IntArray, labels: list[str]
) -> tuple[FloatArray, int] | None:
    """Median beat per lead of the normal beats; returns (beats, index of the fiducial)."""
    chosen = np.asarray([b for b, lab in zip(beats, labels, strict=True) if lab == NORMAL])
    if chosen.size < 1:
        return None
    rr = float(np.median(np.diff(beats))) if len(beats) > 1 else fs
    pre = int(min(0.4 * fs, 0.45 * rr))
    post = int(min(0.75 * fs, max(rr - 0.1 * fs, 0.45 * fs)))
    max_shift = int(0.02 * fs)
    keep = chosen[(chosen - pre - max_shift >= 0) & (chosen + post + max_shift < sig.shape[-1])]
    if keep.size < 1:
        return None
    half = max(pre, post) + max_shift
    windows = beat_windows(sig, keep, half)
    windows = _align(windows, half, int(0.06 * fs), max_shift)
    med = np.median(windows, axis=0)[:, half - pre : half + post + 1]
    return np.asarray(med), pre


def _spatial_velocity(med: FloatArray, fs: float) -> FloatArray:
    slope = np.gradient(med, axis=-1) * fs  # mV/s
    velocity = np.sqrt((slope**2).sum(axis=0))
    return np.asarray(uniform_filter1d(velocity, size=max(int(0.01 * fs), 1)))


def _qrs_bounds(sv: FloatArray, r: int, fs: float, conf: MeasureConfig) -> tuple[int, int]:
    search = int(0.08 * fs)
    lo, hi = max(r - search, 1), min(r + search, sv.size - 1)
    peak = float(sv[lo:hi].max())
    floor = float(np.percentile(sv, 10))
    on_thr = floor + conf.qrs_onset * (peak - floor)
    off_thr = floor + conf.qrs_offset * (peak - floor)
    first_hi = lo + int(np.argmax(sv[lo:hi] > on_thr))
    on = first_hi
    while on > 0 and sv[on - 1] > on_thr and first_hi - on < int(0.1 * fs):
        on -= 1
    above = np.nonzero(sv[lo:hi] > off_thr)[0]
    off = lo + int(above[-1]) if above.size else r
    limit = min(sv.size - 1, r + int(0.2 * fs))
    while off < limit and sv[off + 1] > off_thr:
        off += 1
    return on, off


def _baseline(med: FloatArray, qrs_on: int, fs: float) -> FloatArray:
    """Isoelectric level per lead: the PR segment just before QRS onset."""
    lo = max(qrs_on - int(0.02 * fs), 0)
    hi = max(qrs_on - int(0.004 * fs), lo + 1)
    return np.asarray(med[:, lo:hi].mean(axis=1))


def _p_wave(
    mag: FloatArray, velocity: FloatArray, qrs_on: int, fs: float, conf: MeasureConfig
) -> tuple[int, int] | None:
    """P onset and offset: the P peak from the spatial magnitude, the onset where the spatial
    velocity of the rising limb departs from its floor, the offset where the magnitude returns."""
    lo = max(qrs_on - int(0.3 * fs), 0)
    hi = qrs_on - int(0.03 * fs)
    if hi - lo < int(0.05 * fs):
        return None
    seg = mag[lo:hi]
    peak_i = int(np.argmax(seg))
    # the TP level before P and the PR level after it can differ: one floor each side
    floor_on, floor_off = float(seg[: peak_i + 1].min()), float(seg[peak_i:].min())
    peak = float(seg[peak_i])
    if peak - max(floor_on, floor_off) < conf.p_min_mv:
        return None
    on_thr = floor_on + conf.p_fraction * (peak - floor_on)
    off_thr = floor_off + conf.p_fraction * (peak - floor_off)
    on = peak_i
    while on > 0 and seg[on - 1] > on_thr:
        on -= 1
    on = _velocity_onset(velocity[lo : lo + peak_i + 1], on, conf.p_fraction)
    off = peak_i
    while off < seg.size - 1 and seg[off + 1] > off_thr:
        off += 1
    if on == 0 or (off - on) < int(0.04 * fs):
        return None
    return lo + on, lo + off


def _velocity_onset(velocity: FloatArray, fallback: int, fraction: float) -> int:
    """Going back from the fastest point of a rising limb, where the velocity falls to
    ``fraction`` of its excursion above the floor before it."""
    if velocity.size < 3:
        return fallback
    top_i = int(np.argmax(velocity))
    floor = float(velocity[: top_i + 1].min())
    thr = floor + fraction * (float(velocity[top_i]) - floor)
    k = top_i
    while k > 0 and velocity[k - 1] > thr:
        k -= 1
    return k if k > 0 else fallback


def _t_wave(
    mag: FloatArray, qrs_off: int, hi: int, fs: float, conf: MeasureConfig
) -> tuple[int, int] | None:
    """T peak and T end (tangent at the steepest descent after the peak, meeting the floor)."""
    lo = qrs_off + int(0.06 * fs)
    hi = min(mag.size - 1, hi)
    if hi - lo < int(0.1 * fs):
        return None
    seg = mag[lo:hi]
    peak_i = int(np.argmax(seg))
    tail = seg[peak_i:]
    floor = float(tail.min())
    height = float(seg[peak_i]) - floor
    if seg[peak_i] < conf.t_min_mv or height <= 0:
        return None
    below = np.nonzero(tail < floor + 0.2 * height)[0]
    limb = tail[: int(below[0]) + 1] if below.size else tail
    slope = np.gradient(limb) if limb.size > 1 else np.zeros(1)
    steep = int(np.argmin(slope))
    if slope[steep] >= 0:
        return lo + peak_i, hi
    end = steep + (float(limb[steep]) - floor) / -float(slope[steep])
    return lo + peak_i, int(min(round(lo + peak_i + end), hi))


def _area(med: FloatArray, lead: int, a: int, b: int) -> float:
    return float(med[lead, a : b + 1].sum())


def _axes(med: FloatArray, leads: tuple[str, ...], fid: Fiducials) -> Axes:
    """P and T axes from wave areas; the QRS axis from the net QRS deflection (R + S)."""
    if "I" not in leads or "aVF" not in leads:
        return Axes()
    i, f = leads.index("I"), leads.index("aVF")

    def axis(a: int | None, b: int | None) -> float | None:
        if a is None or b is None or b <= a:
            return None
        return frontal_axis(_area(med, i, a, b), _area(med, f, a, b))

    def net(lead: int) -> float:
        qrs = med[lead, fid.qrs_on : fid.qrs_off + 1]
        return float(qrs.max() + qrs.min())

    return Axes(
        p=axis(fid.p_on, fid.p_off),
        qrs=frontal_axis(net(i), net(f)),
        t=axis(fid.qrs_off, fid.t_end),
    )


def _intervals(fid: Fiducials, fs: float, rr_ms: float | None) -> Intervals:
    ms = 1000.0 / fs
    p = (fid.p_off - fid.p_on) * ms if fid.p_on is not None and fid.p_off is not None else None
    pr = (fid.qrs_on - fid.p_on) * ms if fid.p_on is not None else None
    qt = (fid.t_end - fid.qrs_on) * ms if fid.t_end is not None else None
    corrected: tuple[float | None, ...] = (None,) * 4
    if qt is not None and rr_ms:
        corrected = qtc(qt, rr_ms)
    return Intervals(rr_ms, p, pr, (fid.qrs_off - fid.qrs_on) * ms, qt, *corrected)


def measure(
    sig: FloatArray,
    fs: float,
    leads: tuple[str, ...],
    beats: IntArray,
    labels: list[str],
    conf: MeasureConfig | None = None,
) -> Measurements:
    """Median beats, global fiducials, intervals, axes and ST levels of a cleaned ECG."""
    conf = conf or MeasureConfig()
    normal_rr = [
        b - a
        for a, b, la, lb in zip(beats, beats[1:], labels, labels[1:], strict=False)
        if la == lb == NORMAL
    ]
    rr_ms = float(np.median(normal_rr)) * 1000.0 / fs if normal_rr else None
    found = median_beats(sig, fs, beats, labels)
    if found is None:
        return Measurements(Intervals(rr_ms=rr_ms), Axes(), (), None, None, False, {})
    med, r = found
    sv = _spatial_velocity(med, fs)
    qrs_on, qrs_off = _qrs_bounds(sv, r, fs, conf)
    med = med - _baseline(med, qrs_on, fs)[:, None]
    mag = np.sqrt((uniform_filter1d(med, max(int(0.02 * fs), 1), axis=-1) ** 2).mean(axis=0))
    p_velocity = _spatial_velocity(lowpass(med, fs, 25.0), fs)
    p = _p_wave(mag, p_velocity, qrs_on, fs, conf)
    t_limit = min(
        qrs_off + int(0.55 * fs), r + int(0.85 * rr_ms * fs / 1000) if rr_ms else r + int(fs)
    )
    t = _t_wave(mag, qrs_off, t_limit, fs, conf)
    fid = Fiducials(
        r, qrs_on, qrs_off, p[0] if p else None, p[1] if p else None,
        t[0] if t else None, t[1] if t else None,
    )  # fmt: skip
    j60 = min(qrs_off + int(0.06 * fs), med.shape[-1] - 1)
    st = tuple(StLevel(n, float(med[k, qrs_off]), float(med[k, j60])) for k, n in enumerate(leads))
    amplitude = {n: float(np.ptp(med[k, qrs_on : qrs_off + 1])) for k, n in enumerate(leads)}
    return Measurements(
        _intervals(fid, fs, rr_ms), _axes(med, leads, fid), st, fid, med, p is not None, amplitude
    )
