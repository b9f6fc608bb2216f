"""Multi-lead QRS detection: band-passed slope energy, adaptive thresholds and search-back.

Tuned on physiology, not on any record: a 200 ms refractory period, thresholds that follow
the running signal and noise peak levels (Pan & Tompkins 1985), a search-back at half the
threshold when no beat came for 1.66 average RR, and T-wave rejection within 360 ms.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal
from scipy.ndimage import uniform_filter1d

from ecg.dsp import butter_sos, sos_zi

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

DETECTION_FS = 60.0  # detection runs decimated by fs // 60: at 60-119 Hz
MIN_CANDIDATE = 0.08  # candidates below 8 % of the typical QRS energy are never beats


@dataclass(frozen=True)
class QrsConfig:
    """Physiological constants of the detector (seconds, fractions)."""

    band: tuple[float, float] = (5.0, 15.0)
    window_s: float = 0.12
    refractory_s: float = 0.2
    t_wave_s: float = 0.36
    t_wave_ratio: float = 0.5
    searchback_rr: float = 1.66
    searchback_factor: float = 0.5
    premature_rr: float = 0.7
    premature_ratio: float = 0.4
    premature_agreement: float = 0.66
    lead_support: float = 0.1
    threshold_fraction: float = 0.25
    refine_s: float = 0.06
    contrast_window_s: float = 0.75
    min_contrast: float = 1.5
    gap_ratio: float = 0.1

    def __post_init__(self) -> None:
        low, high = self.band
        if not 0 < low < high:
            raise ValueError(f"band {self.band!r} must be increasing and positive")
        for name in ("window_s", "refractory_s", "t_wave_s", "refine_s"):
            if not 0 < getattr(self, name) < 2:
                raise ValueError(f"{name}={getattr(self, name)!r} must be in (0, 2) s")
        for name in (
            "t_wave_ratio", "searchback_factor", "threshold_fraction", "premature_rr",
            "premature_ratio", "premature_agreement", "lead_support",
        ):  # fmt: skip
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be in (0, 1)")


def _group_delay(sos: FloatArray, fs: float, freq: float) -> int:
    b, a = signal.sos2tf(sos)
    _, delay = signal.group_delay((b, a), w=[freq], fs=fs)
    return round(float(delay[0]))


def _robust_peak(x: FloatArray, fs: float) -> FloatArray:
    """Per-lead typical QRS level: median over 2 s blocks of the block maximum."""
    block = max(int(1.0 * fs), 1)
    n_blocks = x.shape[-1] // block
    if n_blocks < 1:
        return np.asarray(x.max(axis=-1), dtype=np.float64)
    blocks = x[:, : n_blocks * block].reshape(x.shape[0], n_blocks, block)
    return np.asarray(np.median(blocks.max(axis=-1), axis=-1), dtype=np.float64)


def _energy(sig: FloatArray, fs: float, conf: QrsConfig) -> tuple[FloatArray, FloatArray, int]:
    """Band-passed leads (causal), their normalised slope energies and the filter delay."""
    low, high = conf.band[0], min(conf.band[1], 0.4 * fs)
    sos = butter_sos(2, (low, high), "bandpass", fs)
    zi = sos_zi(sos)[:, None, :] * sig[None, :, :1]  # start settled at sample 0
    x, _ = signal.sosfilt(sos, sig, axis=-1, zi=zi)
    energy = np.diff(x, axis=-1, prepend=x[:, :1])
    np.square(energy, out=energy)
    scale = _robust_peak(energy, fs)
    keep = scale > 0
    if not keep.any():
        return x, np.zeros_like(x), 0
    energy = energy[keep] if not keep.all() else energy
    # leads with a tiny dominant QRS must not amplify an ectopic beat's energy without bound
    scale = np.maximum(scale[keep], 0.1 * float(np.median(scale[keep])))
    energy *= (1.0 / scale)[:, None]
    delay = _group_delay(sos, fs, float(np.sqrt(low * high)))
    return x[keep], energy, delay


def _threshold_pass(
    candidates: tuple[list[int], list[float], list[float]],
    fs: float,
    levels: tuple[float, float],
    conf: QrsConfig,
) -> list[int]:
    """Classify candidate peaks as QRS or noise with running levels; returns indices."""
    peaks, heights, agreement = candidates
    refractory, t_wave = conf.refractory_s * fs, conf.t_wave_s * fs
    fraction = conf.threshold_fraction
    spk, npk = levels
    thr = npk + fraction * (spk - npk)
    beats: list[int] = []  # indices into peaks
    rr: deque[float] = deque()  # the last eight RR intervals and their sum
    rr_sum = 0.0
    for i, p in enumerate(peaks):
        h = heights[i]
        gap = 0.0
        rr_avg = rr_sum / len(rr) if rr else 0.0
        if beats:
            last = beats[-1]
            gap = p - peaks[last]
            if gap < refractory:
                if h > heights[last]:
                    beats[-1] = i
                continue
            if rr_avg and gap > conf.searchback_rr * rr_avg:
                found = _search_back(
                    peaks, heights, last, i, refractory, conf.searchback_factor * thr
                )
                if found is not None:
                    rr_sum = _push(rr, rr_sum, peaks[found] - peaks[last])
                    beats.append(found)
                    spk = 0.25 * min(heights[found], 3 * spk) + 0.75 * spk
                    gap = p - peaks[found]
                    if gap < refractory:
                        continue
        if h <= thr or (
            beats and _is_noise(h, gap, heights[beats[-1]], spk, rr_avg, agreement[i], t_wave, conf)
        ):
            npk = 0.125 * h + 0.875 * npk
        else:
            if beats:
                rr_sum = _push(rr, rr_sum, gap)
            beats.append(i)
            spk = 0.125 * min(h, 3 * spk) + 0.875 * spk  # one huge ectopic beat is not the norm
        thr = npk + fraction * (spk - npk)
    return beats


def _push(rr: deque[float], total: float, value: float) -> float:
    """Append an RR interval, keep the last eight, return their new sum."""
    rr.append(value)
    total += value
    if len(rr) > 8:
        total -= rr.popleft()
    return total


def _is_noise(
    h: float, gap: float, last_h: float, spk: float, rr_avg: float, agreement: float,
    t_wave: float, conf: QrsConfig,
) -> bool:  # fmt: skip
    """A T wave (small, soon after a beat) or a small or single-lead early bump."""
    if gap < t_wave and h < conf.t_wave_ratio * last_h:
        return True
    # an ectopic beat comes early but with a full-size QRS in most leads
    early = rr_avg > 0 and gap < conf.premature_rr * rr_avg
    return early and (h < conf.premature_ratio * spk or agreement < conf.premature_agreement)


def _search_back(
    peaks: list[int], heights: list[float], last: int, current: int, refractory: float, thr: float
) -> int | None:
    best: int | None = None
    for j in range(last + 1, current):
        if peaks[j] - peaks[last] < refractory or peaks[current] - peaks[j] < refractory:
            continue
        if heights[j] > thr and (best is None or heights[j] > heights[best]):
            best = j
    return best


def _refine(beats: IntArray, x: FloatArray, delay: int, fs: float, conf: QrsConfig) -> IntArray:
    """Move each beat to the largest band-passed deflection near it, undoing the filter delay.

    Each lead's deflections are scaled by its median beat amplitude before they are summed.
    """
    half = max(int(conf.refine_s * fs), 1)
    offsets = np.arange(-half, half + 1)
    idx = np.clip(beats[:, None] + offsets[None, :], 0, x.shape[-1] - 1)
    windows = np.abs(x[:, idx])  # (leads, beats, window)
    scale = np.median(windows.max(axis=-1), axis=-1)
    scale[scale <= 0] = 1.0
    combined = (windows / scale[:, None, None]).sum(axis=0)
    best = idx[np.arange(len(beats)), np.argmax(combined, axis=1)]
    return np.asarray(np.clip(best - delay, 0, x.shape[-1] - 1), dtype=np.int64)


def _agreement(mwi: FloatArray, peaks: IntArray, fs: float, conf: QrsConfig) -> list[float]:
    """Fraction of leads in which each candidate reaches `lead_support` of that lead's level."""
    if mwi.shape[0] < 2:
        return [1.0] * len(peaks)
    level = _robust_peak(mwi, fs)
    level[level <= 0] = np.inf
    support = mwi[:, peaks] / level[:, None] >= conf.lead_support
    return list(support.mean(axis=0).tolist())


def _contrast(mwi: FloatArray, fs: float, conf: QrsConfig) -> FloatArray:
    """Envelope amplitude over its mean in the surrounding `contrast_window_s`."""
    amplitude = np.sqrt(np.maximum(mwi, 0.0))
    local = uniform_filter1d(amplitude, size=max(int(conf.contrast_window_s * fs), 1))
    local[local <= 0] = np.inf
    return np.asarray(amplitude / local)


def _fill_gaps(
    found: IntArray, mwi: FloatArray, fs: float, delay: int, conf: QrsConfig
) -> IntArray:
    """Add the QRS complexes the global thresholds missed, judged on local contrast.

    Where beats of very different size alternate (a small sinus beat between large PVCs in
    bigeminy, or after a large artefact), levels that follow the large beats hide the small
    ones and the RR-based search-back never fires (every RR looks alike). A QRS stands out
    from its own surroundings whatever its size: its envelope amplitude exceeds
    `min_contrast` times the mean over the surrounding 0.75 s (the rule of NeuroKit2's
    gradient detector), which T and P waves, being slow, do not reach. Each gap between
    found beats is searched for the best such candidate outside the refractory period of
    both neighbours and outside the T-wave zone of a larger preceding beat, repeatedly.
    """
    contrast = _contrast(mwi, fs, conf)
    start = delay + int(conf.window_s * fs / 2)
    cand, _ = signal.find_peaks(mwi, distance=max(int(conf.refractory_s * fs), 1))
    cand = cand[(cand >= start) & (contrast[cand] >= conf.min_contrast)]
    if cand.size == 0:
        return found
    refractory, t_wave = conf.refractory_s * fs, conf.t_wave_s * fs
    beats = sorted(int(b) for b in found)
    edges = np.asarray([-(10**9), *beats, 10**12], dtype=np.int64)
    gap = np.searchsorted(edges, cand) - 1  # the gap each candidate lies in
    clear = (cand - edges[gap] >= refractory) & (edges[gap + 1] - cand >= refractory)
    open_gaps = np.unique(gap[clear])  # only these can receive a beat: the rest is skipped
    queue = [(int(edges[g]), int(edges[g + 1])) for g in open_gaps]
    added: list[int] = []
    while queue:
        a, b = queue.pop()
        lo, hi = np.searchsorted(cand, [a + refractory, b - refractory + 1])
        inside = cand[lo:hi]
        near = [mwi[e] for e in (a, b) if 0 <= e < mwi.size]
        if near:  # a QRS, not a P wave: at least `gap_ratio` of its smaller neighbour's energy
            inside = inside[mwi[inside] >= conf.gap_ratio * min(near)]
        if a >= 0:  # a T wave of the preceding beat is no QRS
            late = inside - a >= t_wave
            inside = inside[late | (mwi[inside] >= conf.t_wave_ratio * mwi[a])]
        if inside.size == 0:
            continue
        best = int(inside[np.argmax(contrast[inside] * np.sqrt(mwi[inside]))])
        added.append(best)
        queue += [(a, best), (best, b)]
    if not added:
        return found
    return np.asarray(sorted([*beats, *added]), dtype=np.int64)


def detect_qrs(
    sig: FloatArray,
    fs: float,
    usable: npt.NDArray[np.bool_] | None = None,
    conf: QrsConfig | None = None,
) -> IntArray:
    """Detect QRS complexes on one or several leads.

    Parameters
    ----------
    sig:
        Samples in mV, 1-D or ``(n_leads, n_samples)``.
    fs:
        Sampling rate in Hz.
    usable:
        Optional mask of leads to use (for example from `ecg.dsp.lead_quality`).
    conf:
        Detector constants; the defaults are physiological.

    Returns
    -------
    numpy.ndarray
        Sorted sample indices of the QRS complexes (near the main deflection).
    """
    conf = conf or QrsConfig()
    sig2 = np.atleast_2d(np.asarray(sig, dtype=np.float64))
    if usable is not None and np.any(usable):
        sig2 = sig2[np.asarray(usable, dtype=bool)]
    n = sig2.shape[-1]
    if n < int(0.5 * fs):
        return np.zeros(0, dtype=np.int64)
    q = max(int(fs // DETECTION_FS), 1)
    beats = _detect(_block_mean(sig2, q), fs / q, conf) * q + q // 2
    if q > 1 and beats.size > 1:
        beats = _align_to_template(sig2, beats, int(0.06 * fs), q)
    # a peak in the first 80 ms belongs to a QRS that began before the recording
    return beats[(beats >= int(0.08 * fs)) & (beats < n)]


def _align_to_template(sig: FloatArray, beats: IntArray, half: int, max_lag: int) -> IntArray:
    """Shift each beat by up to ``max_lag`` samples to best match the median QRS.

    Detection runs decimated; this puts every fiducial on the same point of the dominant
    QRS at the full sampling rate, which averaging and classification rely on.
    """
    n = sig.shape[-1]
    offsets = np.arange(-half - max_lag, half + max_lag + 1)
    idx = np.clip(beats[:, None] + offsets[None, :], 0, n - 1)
    windows = sig[:, idx]  # (leads, beats, window)
    windows = windows - windows.mean(axis=-1, keepdims=True)
    core = slice(max_lag, max_lag + 2 * half + 1)
    step = max(len(beats) // 256, 1)  # a few hundred beats make a stable template
    template = np.median(windows[:, ::step, core], axis=1)  # (leads, 2*half+1)
    scores = np.stack(
        [
            np.einsum(
                "lbw,lw->b", windows[:, :, max_lag + lag : max_lag + lag + 2 * half + 1], template
            )
            for lag in range(-max_lag, max_lag + 1)
        ],
        axis=1,
    )
    shifted = beats + np.argmax(scores, axis=1) - max_lag
    return np.unique(np.clip(shifted, 0, n - 1)).astype(np.int64)


def _block_mean(sig: FloatArray, q: int) -> FloatArray:
    """Decimate by ``q`` with a moving-average anti-alias filter (QRS energy is below 40 Hz)."""
    if q == 1:
        return sig
    m = sig.shape[-1] // q
    ends = np.cumsum(sig[:, : m * q], axis=-1)[:, q - 1 :: q]  # running sums at block ends
    sums = np.diff(ends, axis=-1, prepend=0.0)
    return np.asarray(sums * (1.0 / q))


def _detect(sig2: FloatArray, fs: float, conf: QrsConfig) -> IntArray:
    """Detection proper at a rate near `DETECTION_FS`; beat indices at that rate."""
    n = sig2.shape[-1]
    pad = min(int(0.3 * fs), n - 2)  # a beat at the very end still gets its delayed energy
    sig2 = np.concatenate([sig2, sig2[:, -2 : -pad - 2 : -1]], axis=-1) if pad > 0 else sig2
    x, per_lead, delay = _energy(sig2, fs, conf)
    size = max(int(conf.window_s * fs), 1)
    lead_mwi = uniform_filter1d(per_lead, size=size, axis=-1)
    mwi = lead_mwi.sum(axis=0) if lead_mwi.shape[0] > 1 else lead_mwi[0].copy()
    mwi[: delay + int(conf.window_s * fs / 2)] = 0.0  # a QRS cut by the start cannot be judged
    level = float(_robust_peak(mwi[None, :], fs)[0])
    peaks, _ = signal.find_peaks(mwi, height=MIN_CANDIDATE * level, distance=max(int(0.12 * fs), 1))
    if peaks.size == 0 or level <= 0:
        return np.zeros(0, dtype=np.int64)
    heights = mwi[peaks]
    levels = (level, float(np.median(mwi[:: max(int(fs / 50), 1)])))
    agreement = _agreement(lead_mwi, peaks, fs, conf)
    chosen = _threshold_pass((peaks.tolist(), heights.tolist(), agreement), fs, levels, conf)
    found = peaks[np.asarray(chosen, dtype=np.int64)] if chosen else np.zeros(0, np.int64)
    found = _fill_gaps(found, mwi, fs, delay, conf)
    if found.size == 0:
        return np.zeros(0, dtype=np.int64)
    beats = _refine(found, x, delay, fs, conf)
    return np.unique(np.minimum(beats, n - 1))
