"""Beat classification (normal, supraventricular and ventricular premature), RR series, HRV."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NORMAL, SVPB, PVC = "N", "S", "V"


@dataclass(frozen=True)
class BeatConfig:
    """Thresholds of the classifier (fractions of the local RR and of the dominant beat)."""

    premature: float = 0.85
    similar: float = 0.85
    different: float = 0.7
    wide_ratio: float = 1.3
    half_window_s: float = 0.1

    def __post_init__(self) -> None:
        for name in ("premature", "similar", "different"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be in (0, 1)")
        if self.wide_ratio <= 1:
            raise ValueError(f"wide_ratio={self.wide_ratio!r} must exceed 1")


@dataclass(frozen=True)
class Hrv:
    """Time-domain HRV over normal-to-normal intervals (ms, %)."""

    n_intervals: int
    mean_nn_ms: float | None
    sdnn_ms: float | None
    rmssd_ms: float | None
    pnn50: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "n_intervals": self.n_intervals,
            "mean_nn_ms": _round(self.mean_nn_ms),
            "sdnn_ms": _round(self.sdnn_ms),
            "rmssd_ms": _round(self.rmssd_ms),
            "pnn50": _round(self.pnn50),
        }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def beat_windows(sig: FloatArray, beats: IntArray, half: int) -> FloatArray:
    """Windows ``(n_beats, n_leads, 2*half+1)`` centred on each beat (edges clipped)."""
    offsets = np.arange(-half, half + 1)
    idx = np.clip(beats[:, None] + offsets[None, :], 0, sig.shape[-1] - 1)
    return np.asarray(np.transpose(sig[:, idx], (1, 0, 2)))


def _correlation(windows: FloatArray, template: FloatArray) -> FloatArray:
    """Per beat, the correlation with the template averaged over the leads (each lead counts
    once whatever its amplitude, so one noisy lead cannot dominate)."""
    a = windows - windows.mean(axis=-1, keepdims=True)  # (beats, leads, window)
    b = template - template.mean(axis=-1, keepdims=True)  # (leads, window)
    denom = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)[None, :]
    denom[denom == 0] = np.inf
    per_lead = np.einsum("blw,lw->bl", a, b) / denom
    return np.asarray(per_lead.mean(axis=1))


def _width(windows: FloatArray) -> FloatArray:
    """Span holding the central 80 % of each window's slope energy, in samples."""
    energy = (np.diff(windows, axis=-1) ** 2).sum(axis=1)
    cum = np.cumsum(energy, axis=-1)
    total = cum[:, -1:]
    total[total == 0] = 1.0
    cum = cum / total
    start = np.argmax(cum >= 0.1, axis=-1)
    end = np.argmax(cum >= 0.9, axis=-1)
    return np.asarray(end - start, dtype=np.float64)


def local_rr(beats: IntArray) -> FloatArray:
    """For each beat, the median of the RR intervals around it (samples)."""
    rr = np.diff(beats).astype(np.float64)
    if rr.size == 0:
        return np.zeros(len(beats))
    out = np.empty(len(beats))
    k = np.arange(len(beats))
    lo, hi = np.maximum(k - 5, 0), np.minimum(k + 4, rr.size)
    full = (hi - lo) == 9  # windows of nine intervals: one vectorised median
    if rr.size >= 9 and full.any():
        medians = np.median(np.lib.stride_tricks.sliding_window_view(rr, 9), axis=1)
        out[full] = medians[lo[full]]
    for j in np.nonzero(~full)[0]:  # the few windows cut by the record's edges
        out[j] = np.median(rr[lo[j] : hi[j]])
    return out


def classify_beats(
    sig: FloatArray, fs: float, beats: IntArray, conf: BeatConfig | None = None
) -> list[str]:
    """Label each beat ``N``, ``S`` (supraventricular premature) or ``V`` (ventricular).

    A beat whose QRS differs from the dominant (median) beat and is wider is ventricular; an
    early beat (RR below `premature` of the local RR) shaped like the dominant one is
    supraventricular.
    """
    conf = conf or BeatConfig()
    if len(beats) < 3:
        return [NORMAL] * len(beats)
    sig2 = np.atleast_2d(sig)
    windows = beat_windows(sig2, beats, max(int(conf.half_window_s * fs), 2))
    width = _width(windows)
    # the dominant (conducted) beat is the narrow one: in bigeminy half the beats are PVCs and
    # a median over all beats would blend the two shapes
    narrow = width <= np.median(width)
    template = np.median(windows[narrow], axis=0)
    corr = _correlation(windows, template)
    dominant_width = float(np.median(width[narrow])) or 1.0
    rr_prev = np.diff(beats, prepend=beats[0] - int(np.median(np.diff(beats))))
    early = rr_prev < conf.premature * local_rr(beats)
    labels = []
    for k in range(len(beats)):
        wide = width[k] > conf.wide_ratio * dominant_width
        if corr[k] < conf.different and (wide or early[k]):
            labels.append(PVC)
        elif early[k] and corr[k] >= conf.similar:
            labels.append(SVPB)
        else:
            labels.append(NORMAL)
    return labels


def rr_intervals_ms(beats: IntArray, fs: float) -> FloatArray:
    """RR intervals in milliseconds."""
    return np.asarray(np.diff(beats) * (1000.0 / fs), dtype=np.float64)


def heart_rate_bpm(beats: IntArray, fs: float) -> float | None:
    """Mean ventricular rate from the RR intervals (None with fewer than two beats)."""
    if len(beats) < 2:
        return None
    return float(60_000.0 / rr_intervals_ms(beats, fs).mean())


def hrv(beats: IntArray, labels: list[str], fs: float) -> Hrv:
    """SDNN, RMSSD and pNN50 over intervals between two normal beats."""
    rr = rr_intervals_ms(beats, fs)
    normal = np.array([a == NORMAL and b == NORMAL for a, b in itertools.pairwise(labels)], bool)
    nn = rr[normal] if rr.size else rr
    if nn.size < 2:
        return Hrv(int(nn.size), float(nn.mean()) if nn.size else None, None, None, None)
    consecutive = normal[1:] & normal[:-1]
    diffs = np.diff(rr)[consecutive]
    return Hrv(
        n_intervals=int(nn.size),
        mean_nn_ms=float(nn.mean()),
        sdnn_ms=float(nn.std(ddof=1)),
        rmssd_ms=float(np.sqrt(np.mean(diffs**2))) if diffs.size else None,
        pnn50=float(100.0 * np.mean(np.abs(diffs) > 50.0)) if diffs.size else None,
    )
