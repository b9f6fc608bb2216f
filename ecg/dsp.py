"""Pre-processing and signal quality: pure functions of ``(sig, fs)``.

``sig`` is 1-D (one lead) or 2-D ``(n_leads, n_samples)``; filters work along the last axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import signal

FloatArray = npt.NDArray[np.float64]

FLAT_PTP_MV = 0.05
SATURATION_FRACTION = 0.02
NOISE_RATIO = 0.25


@lru_cache(maxsize=64)
def butter_sos(order: int, band: tuple[float, ...], btype: str, fs: float) -> FloatArray:
    """Cached Butterworth second-order sections (``band`` in Hz)."""
    wn = band[0] if len(band) == 1 else list(band)
    return np.asarray(signal.butter(order, wn, btype=btype, fs=fs, output="sos"))


@lru_cache(maxsize=64)
def _sos_zi(sos_bytes: bytes, n_sections: int) -> FloatArray:
    """Cached steady-state filter conditions (scipy recomputes them, solving a linear
    system per section, on every call)."""
    sos = np.frombuffer(sos_bytes, dtype=np.float64).reshape(n_sections, 6)
    return np.asarray(signal.sosfilt_zi(sos))


def sos_zi(sos: FloatArray) -> FloatArray:
    """`scipy.signal.sosfilt_zi` of ``sos``, cached."""
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    return _sos_zi(sos.tobytes(), len(sos))


def _padded_filtfilt(sos: FloatArray, sig: FloatArray) -> FloatArray:
    """`scipy.signal.sosfiltfilt` along the last axis (odd extension), with cached
    initial conditions."""
    n = sig.shape[-1]
    if n <= 1:
        return np.array(sig, dtype=np.float64)
    edge = min(3 * (2 * len(sos) + 1), n - 1)
    x = np.asarray(sig, dtype=np.float64)
    if edge > 0:
        left = 2 * x[..., :1] - x[..., edge:0:-1]
        right = 2 * x[..., -1:] - x[..., -2 : -edge - 2 : -1]
        x = np.concatenate([left, x, right], axis=-1)
    zi = sos_zi(sos).reshape((len(sos),) + (1,) * (x.ndim - 1) + (2,))
    y, _ = signal.sosfilt(sos, x, axis=-1, zi=zi * x[..., :1])
    y, _ = signal.sosfilt(sos, y[..., ::-1], axis=-1, zi=zi * y[..., -1:])
    y = y[..., ::-1]
    return np.ascontiguousarray(y[..., edge : y.shape[-1] - edge] if edge > 0 else y)


def remove_baseline(sig: FloatArray, fs: float, cutoff: float = 0.5) -> FloatArray:
    """Remove baseline wander with a zero-phase high-pass (0.5 Hz default, AHA-compatible)."""
    return _padded_filtfilt(butter_sos(2, (cutoff,), "highpass", fs), sig)


def lowpass(sig: FloatArray, fs: float, cutoff: float = 100.0) -> FloatArray:
    """Zero-phase low-pass; a cut-off at or above 0.45 fs leaves the signal as it is."""
    if cutoff >= 0.45 * fs:
        return np.array(sig, dtype=np.float64)
    return _padded_filtfilt(butter_sos(4, (cutoff,), "lowpass", fs), sig)


def bandpass(sig: FloatArray, fs: float, low: float, high: float, order: int = 2) -> FloatArray:
    """Zero-phase Butterworth band-pass (``high`` clipped below Nyquist)."""
    high = min(high, 0.45 * fs)
    return _padded_filtfilt(butter_sos(order, (low, high), "bandpass", fs), sig)


@lru_cache(maxsize=16)
def notch_sos(freq: float, quality: float, fs: float) -> FloatArray:
    """Cached second-order sections of a notch filter."""
    b, a = signal.iirnotch(freq, quality, fs=fs)
    return np.asarray(signal.tf2sos(b, a))


def notch(sig: FloatArray, fs: float, freq: float = 50.0, quality: float = 30.0) -> FloatArray:
    """Zero-phase mains notch at ``freq`` Hz (skipped when ``freq`` is near Nyquist)."""
    if freq >= 0.45 * fs:
        return np.array(sig, dtype=np.float64)
    return _padded_filtfilt(notch_sos(freq, quality, fs), sig)


def clean(
    sig: FloatArray, fs: float, mains: float | None = 50.0, cutoff: float = 100.0
) -> FloatArray:
    """Baseline removal, mains notch and low-pass: the signal used for measurements."""
    out = remove_baseline(sig, fs)
    if mains:
        out = notch(out, fs, mains)
    return lowpass(out, fs, cutoff)


@dataclass(frozen=True)
class LeadQuality:
    """Whether a lead can be judged, and why not."""

    lead: str
    usable: bool
    problems: tuple[str, ...]
    noise_ratio: float

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "lead": self.lead,
            "usable": self.usable,
            "problems": list(self.problems),
            "noise_ratio": round(self.noise_ratio, 3),
        }


def _saturated(x: FloatArray) -> bool:
    top, bottom = x.max(), x.min()
    if top == bottom:
        return False
    pinned = np.count_nonzero(x >= top) + np.count_nonzero(x <= bottom)
    return bool(pinned > SATURATION_FRACTION * x.size)


def assess_quality(
    raw: FloatArray, filtered: FloatArray, fs: float, leads: tuple[str, ...]
) -> list[LeadQuality]:
    """Per-lead quality from the raw signal and its baseline-free, mains-free version.

    Flat: less than `FLAT_PTP_MV` peak to peak. Saturated: more than `SATURATION_FRACTION` of
    samples pinned at the extremes. Noisy: the RMS of what a 40 Hz low-pass removes exceeds
    `NOISE_RATIO` of the lead's amplitude (99.5th minus 0.5th percentile).
    """
    raw2, base = np.atleast_2d(raw), np.atleast_2d(filtered)
    smooth = lowpass(base, fs, 40.0)
    hf_rms = np.sqrt(np.mean((base - smooth) ** 2, axis=-1))
    amplitude = np.percentile(smooth, [0.5, 99.5], axis=-1)
    amplitude = amplitude[1] - amplitude[0]
    out = []
    for i, lead in enumerate(leads):
        problems = []
        if np.ptp(base[i]) < FLAT_PTP_MV:
            problems.append("flat")
        elif _saturated(raw2[i]):
            problems.append("saturated")
        ratio = float(hf_rms[i] / amplitude[i]) if amplitude[i] > 0 else float("inf")
        if not problems and ratio > NOISE_RATIO:
            problems.append("noisy")
        out.append(LeadQuality(lead, not problems, tuple(problems), min(ratio, 1e6)))
    return out


def lead_quality(
    sig: FloatArray, fs: float, leads: tuple[str, ...], mains: float | None = 50.0
) -> list[LeadQuality]:
    """Per-lead quality of a raw signal (see `assess_quality`)."""
    base = remove_baseline(np.atleast_2d(np.asarray(sig, dtype=np.float64)), fs)
    if mains:
        base = notch(base, fs, mains)
    return assess_quality(sig, base, fs, leads)
