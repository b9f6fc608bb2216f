"""12-lead measurements on median beats with global fiducial points.

Beats of the dominant (normal) type are aligned and averaged sample by sample (median) per
lead. Fiducials are global, from all leads together: QRS onset and offset where the spatial
velocity leaves and returns to the isoelectric level, P from the spatial magnitude of the
P-wave window, T end by the tangent method on the spatial magnitude of the T wave.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from ecg.beats import NORMAL, beat_windows
from ecg.fiducials import (
    FiducialConfig,
    isoelectric,
    p_bounds,
    p_consistent,
    p_window,
    qrs_bounds,
    t_bounds,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SQRT3_2 = math.sqrt(3.0) / 2.0


MeasureConfig = FiducialConfig  # the fiducial search's parameters


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
    t_end_typical: int | None = None  # the typical lead's T end (`ecg.fiducials.t_bounds`)
    qrs_core_on: int | None = None  # the QRS onset without the walk to the flat point


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
    # QRS duration for the diagnostic thresholds: the span over which the complex visibly
    # moves (spatial velocity above `FiducialConfig.edge_fraction` of its peak), without the
    # walk to the flat isoelectric point that the IEC global interval takes. The published
    # limits (QRS >= 120 ms for bundle-branch block, AHA/ACCF/HRS 2009 part III) were set on
    # calliper and device measurements of that span.
    qrs_core_ms: float | None = None
    # QT and QTc (Bazett, Fridericia) of the typical lead for the long-QT limits (see
    # `ecg.fiducials.t_bounds`); the IEC global QT runs to the latest lead's T end.
    qt_typical_ms: float | None = None


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


def beat_stack(
    sig: FloatArray, fs: float, beats: IntArray, labels: list[str]
) -> tuple[FloatArray, int] | None:
    """Aligned windows ``(n_beats, n_leads, n)`` of the normal beats; and the fiducial index."""
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
    return np.asarray(windows[:, :, half - pre : half + post + 1]), pre


def median_beats(
    sig: FloatArray, fs: float, beats: IntArray, labels: list[str]
) -> tuple[FloatArray, int] | None:
    """Median beat per lead of the normal beats; returns (beats, index of the fiducial)."""
    found = beat_stack(sig, fs, beats, labels)
    if found is None:
        return None
    return np.asarray(np.median(found[0], axis=0)), found[1]


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


def _fiducials(
    stack: FloatArray, r: int, fs: float, rr_ms: float | None, conf: FiducialConfig
) -> tuple[Fiducials, FloatArray, bool, int | None]:
    """Global fiducials of the median of ``stack``; the baseline-corrected median beat; and
    whether a P wave locked to the QRS was found."""
    med = np.asarray(np.median(stack, axis=0))
    qrs_on, qrs_off = qrs_bounds(med, r, fs, rr_ms, conf)
    base = isoelectric(med, qrs_on, fs)
    med = med - base[:, None]
    span = p_window(qrs_on, r, fs, rr_ms)
    p = None
    if span is not None and p_consistent(stack - base[None, :, None], med, span, conf):
        p = p_bounds(med, span, fs, conf)
    t = t_bounds(med, qrs_off, r, fs, rr_ms, conf)
    fid = Fiducials(
        r, qrs_on, qrs_off, p[0] if p else None, p[1] if p else None,
        t[0] if t else None, t[1] if t else None, t[2] if t else None,
    )  # fmt: skip
    return fid, med, p is not None, t[2] if t else None


def measure(
    sig: FloatArray,
    fs: float,
    leads: tuple[str, ...],
    beats: IntArray,
    labels: list[str],
    conf: FiducialConfig | None = None,
) -> Measurements:
    """Median beats, global fiducials, intervals, axes and ST levels of a cleaned ECG."""
    conf = conf or FiducialConfig()
    normal_rr = [
        b - a
        for a, b, la, lb in zip(beats, beats[1:], labels, labels[1:], strict=False)
        if la == lb == NORMAL
    ]
    rr_ms = float(np.median(normal_rr)) * 1000.0 / fs if normal_rr else None
    found = beat_stack(sig, fs, beats, labels)
    if found is None:
        return Measurements(Intervals(rr_ms=rr_ms), Axes(), (), None, None, False, {})
    fid, med, p_present, t_typical = _fiducials(found[0], found[1], fs, rr_ms, conf)
    core_on, core_off = qrs_bounds(med, fid.r, fs, rr_ms, replace(conf, settle_s=0.0))
    fid = replace(fid, qrs_core_on=core_on)
    qrs_on, qrs_off = fid.qrs_on, fid.qrs_off
    j60 = min(qrs_off + int(0.06 * fs), med.shape[-1] - 1)
    st = tuple(StLevel(n, float(med[k, qrs_off]), float(med[k, j60])) for k, n in enumerate(leads))
    amplitude = {n: float(np.ptp(med[k, qrs_on : qrs_off + 1])) for k, n in enumerate(leads)}
    return Measurements(
        _intervals(fid, fs, rr_ms), _axes(med, leads, fid), st, fid, med, p_present, amplitude,
        (core_off - core_on) * 1000.0 / fs,
        None if t_typical is None else (t_typical - fid.qrs_on) * 1000.0 / fs,
    )  # fmt: skip
