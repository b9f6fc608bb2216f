"""Rhythm as episodes: where in a recording each rhythm and arrhythmia begins and ends.

A 30-minute or 24-hour recording is not one rhythm: paroxysmal AF may fill 10 % of it, a run
of VT a few seconds. Each beat is judged from its neighbours (a window of `WINDOW_BEATS`
RR intervals centred on it) and consecutive beats of one kind make an episode.

* **AF**: irregularly irregular RR and no P waves. The irregularity measure is robust to
  ectopy: intervals that begin or end on a ventricular beat are left out, and the median
  (not the mean) successive difference is taken, so isolated premature beats, which disturb
  two intervals each, cannot make a sinus rhythm look irregular (sinus arrhythmia changes the
  RR slowly, so successive differences stay small). P waves are judged by their *coherence*
  over the window: the segment before each QRS is averaged over the window's beats; a P wave
  repeats in every beat and survives averaging, fibrillatory waves and noise do not (for
  incoherent activity the averaged energy falls to about 1/n of the single-beat energy).
* **Ventricular runs** (from the beat labels): 2 consecutive ventricular beats a couplet,
  >= 3 at >= 100/min VT (ACC/AHA/ESC 2006 definition), >= 3 slower a triplet (slow run);
  **bigeminy** and **trigeminy**: at least three ventricular beats each following one or two
  non-ventricular beats. **SVT**: >= 3 consecutive supraventricular premature beats at
  >= 100/min.
* **Pause**: an RR interval of >= 2 s (a common Holter reporting limit).
* **Sinus bradycardia / tachycardia**: coherent P waves, rate < 60 or > 100 per minute.
* **2:1 AV block**: coherent P waves before each QRS *and* a second P wave of the same shape
  half an RR interval earlier, at a ventricular rate below 75/min (otherwise read as sinus
  bradycardia).
* **Mobitz I, Mobitz II, third-degree AV block**: from the individual P waves, by the 2018
  ACC/AHA/HRS definitions (`ecg.avblock`); recordings analysed whole only (not the chunked
  Holter path).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from ecg.avblock import p_waves, second_degree_events, third_degree_runs
from ecg.beats import PVC, SVPB
from ecg.dsp import bandpass

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

WINDOW_BEATS = 16  # RR intervals judged together (AF detectors use 8-128; 16 ~ 10-15 s)
CLUSTER_WIDTH = 0.04  # RR intervals within 4 % of each other belong to one group
PATTERNED = 0.3  # median share of a window's RR intervals in an interval's group
IRREGULAR = 0.08  # median |dRR| / median RR of AF exceeds this (sinus: 0.01-0.05)
P_COHERENT = 0.35  # averaged / single-beat P-segment energy: a repeating P wave (noise: ~1/n)
P_SEGMENT_S = (0.30, 0.06)  # P-wave search window before the R peak (PR <= 300 ms)
PAUSE_S = 2.0
VT_MIN_BEATS = 3
VT_MIN_BPM = 100.0
BRADY_BPM, TACHY_BPM = 60.0, 100.0
MIN_SINUS_BEATS = 5  # shortest sinus brady / tachy episode
MIN_AF_BEATS = 8  # shortest AF episode; shorter irregular stretches join their neighbours
MERGE_BEATS = 4  # AF episodes closer than this many beats are one
AVB_MAX_BPM = 75.0  # 2:1 block halves an atrial rate of <= 150
AVB_SHAPE = 0.8  # correlation of the blocked P wave with the conducted one
AV_MERGE_BEATS = 8  # Mobitz events up to 8 beats apart are one episode (Wenckebach 9:8)
ANALYSIS_FS = 125.0
MAX_P_LEADS = 3  # P waves are judged on the first three leads (I, II, III of a 12-lead ECG,
#                  every lead of a Holter); more add time, not information
P_BAND_HZ = (1.0, 30.0)  # P-wave content; no baseline, no muscle noise

LABELS = {
    "af": ("Atrial fibrillation", "心房颤动"),
    "flutter": ("Atrial flutter", "心房扑动"),
    "svt": ("Supraventricular tachycardia", "室上性心动过速"),
    "vt": ("Ventricular tachycardia", "室性心动过速"),
    "couplet": ("Ventricular couplet", "成对室性早搏"),
    "triplet": ("Ventricular triplet (slow run)", "室性早搏三联发（缓慢）"),
    "bigeminy": ("Ventricular bigeminy", "室性早搏二联律"),
    "trigeminy": ("Ventricular trigeminy", "室性早搏三联律"),
    "pause": ("Pause", "长间歇"),
    "sinus_brady": ("Sinus bradycardia", "窦性心动过缓"),
    "sinus_tachy": ("Sinus tachycardia", "窦性心动过速"),
    "avb1": ("First-degree AV block", "一度房室传导阻滞"),
    "avb2_mobitz1": ("Second-degree AV block, Mobitz I", "二度I型房室传导阻滞"),
    "avb2_mobitz2": ("Second-degree AV block, Mobitz II", "二度II型房室传导阻滞"),
    "avb2_2to1": ("Second-degree AV block, 2:1", "二度房室传导阻滞（2:1）"),
    "avb3": ("Third-degree AV block", "三度房室传导阻滞"),
    "paced": ("Paced rhythm", "起搏心律"),
}
CRITICAL_KINDS = frozenset({"vt", "avb3", "avb2_mobitz2"})


@dataclass(frozen=True)
class Episode:
    """One stretch of a rhythm: kind, start and end (s), beats in it, ventricular rate."""

    kind: str
    start_s: float
    end_s: float
    beats: int
    rate_bpm: float | None

    def __post_init__(self) -> None:
        if self.kind not in LABELS:
            raise ValueError(f"unknown episode kind {self.kind!r}")
        if self.end_s < self.start_s:
            raise ValueError(f"episode ends ({self.end_s}) before it starts ({self.start_s})")

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.end_s - self.start_s

    @property
    def critical(self) -> bool:
        """Whether the episode alone needs a clinician now (VT, high-grade AV block)."""
        return self.kind in CRITICAL_KINDS

    def shifted(self, seconds: float) -> Episode:
        """The same episode ``seconds`` later (chunks of a long recording)."""
        return Episode(
            self.kind, self.start_s + seconds, self.end_s + seconds, self.beats, self.rate_bpm
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form (the shape the reader and the triage agree on)."""
        en, zh = LABELS[self.kind]
        return {
            "kind": self.kind,
            "start_s": round(self.start_s, 2),
            "end_s": round(self.end_s, 2),
            "beats": self.beats,
            "rate_bpm": None if self.rate_bpm is None else round(self.rate_bpm),
            "label_zh": zh,
            "label_en": en,
            "critical": self.critical,
        }


def _window_slices(n_rr: int, w: int) -> tuple[IntArray, IntArray]:
    """For each beat k (0..n_rr), the first and one-past-last RR index of its window."""
    k = np.arange(n_rr + 1)
    lo = np.clip(k - w // 2, 0, max(n_rr - w, 0))
    return lo, np.minimum(lo + w, n_rr)


def irregularity(beats: IntArray, labels: tuple[str, ...], fs: float) -> FloatArray:
    """Per beat: median |successive RR difference| / median RR over its window, leaving out
    the intervals that touch a ventricular beat (NaN where too few intervals remain)."""
    rr = np.diff(beats).astype(np.float64) / fs
    n = len(beats)
    out = np.full(n, np.nan)
    if rr.size < 4:
        return out
    v = np.array([lab == PVC for lab in labels], dtype=bool)
    ok = ~(v[:-1] | v[1:])
    d = np.abs(np.diff(rr))
    d_ok = ok[:-1] & ok[1:]
    w = min(WINDOW_BEATS, rr.size)
    rr_m = np.where(ok, rr, np.nan)
    d_m = np.where(d_ok, d, np.nan)
    rr_w = sliding_window_view(rr_m, w)
    d_w = sliding_window_view(d_m, max(w - 1, 1))
    with np.errstate(all="ignore"), _quiet():
        med_rr = _row_nanmedian(rr_w)
        med_d = _row_nanmedian(d_w)
        enough = np.sum(~np.isnan(d_w), axis=1) >= max((w - 1) // 2, 3)
        ratio = np.where(enough, med_d[: med_rr.size] / med_rr, np.nan)
    lo, _ = _window_slices(rr.size, w)
    out[:] = ratio[np.minimum(lo, ratio.size - 1)]
    return out


def rr_clustering(beats: IntArray, labels: tuple[str, ...], fs: float) -> FloatArray:
    """Per beat: how much the RR intervals of its window fall into a few tight groups.

    For each interval, the share of the window's other intervals within `CLUSTER_WIDTH` of
    it; the median over the window. A patterned rhythm (bigeminy even when the ectopic beats
    were not recognised, 2:1 or 3:2 block, regular blocked premature beats) puts its
    intervals into two or three groups (shares >= 0.3); AF spreads them continuously
    (0.1-0.25 even at a slow, fairly regular response).
    """
    rr = np.diff(beats).astype(np.float64) / fs
    out = np.zeros(len(beats))
    if rr.size < 4:
        return out
    v = np.array([lab == PVC for lab in labels], dtype=bool)
    rr_m = np.where(~(v[:-1] | v[1:]), rr, np.nan)
    w = min(WINDOW_BEATS, rr.size)
    win = sliding_window_view(rr_m, w)  # (windows, w)
    with np.errstate(invalid="ignore"):
        close = np.abs(win[:, :, None] - win[:, None, :]) <= CLUSTER_WIDTH * win[:, :, None]
    valid = ~np.isnan(win)
    n_valid = valid.sum(axis=1, keepdims=True)
    share = (close.sum(axis=2) - valid) / np.maximum(n_valid - 1, 1)
    share = np.where(valid, share, np.nan)
    with _quiet():
        med = np.nan_to_num(_row_nanmedian(share), nan=1.0)
    lo, _ = _window_slices(rr.size, w)
    out[:] = med[np.minimum(lo, med.size - 1)]
    return out


def _row_nanmedian(a: FloatArray) -> FloatArray:
    """Median of each row ignoring NaN (NaN for an all-NaN row); `numpy.nanmedian` is slow
    on many short rows."""
    s = np.sort(a, axis=1)  # NaN sort last
    count = np.sum(~np.isnan(a), axis=1)
    rows = np.arange(a.shape[0])
    lo, hi = np.maximum((count - 1) // 2, 0), np.maximum(count // 2, 0)
    hi = np.minimum(hi, a.shape[1] - 1)
    med = 0.5 * (s[rows, lo] + s[rows, hi])
    return np.where(count > 0, med, np.nan)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's all-NaN slice warnings inside a block."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _decimated(sig: FloatArray, fs: float) -> tuple[FloatArray, float, int]:
    q = max(int(fs // ANALYSIS_FS), 1)
    n = sig.shape[-1] // q * q
    x = sig[:, :n].reshape(sig.shape[0], -1, q).mean(axis=-1) if q > 1 else sig
    return x, fs / q, q


def _segments(x: FloatArray, centres: IntArray, before: int, after: int) -> FloatArray:
    """``(beats, leads, samples)`` segments from ``centre - before`` to ``centre - after``,
    each with its mean removed (the baseline)."""
    offsets = np.arange(-before, -after + 1)
    idx = np.clip(centres[:, None] + offsets[None, :], 0, x.shape[-1] - 1)
    seg = np.transpose(x[:, idx], (1, 0, 2))
    return np.asarray(seg - seg.mean(axis=-1, keepdims=True))


def _window_mean(seg: FloatArray, n_rr: int) -> FloatArray:
    """Per beat, the mean segment over its window of beats (cumulative sums)."""
    w = min(WINDOW_BEATS, n_rr) + 1
    cum = np.concatenate([np.zeros((1, *seg.shape[1:])), np.cumsum(seg, axis=0)])
    lo, _ = _window_slices(n_rr, w - 1)
    hi = np.minimum(lo + w, seg.shape[0])
    return np.asarray((cum[hi] - cum[lo]) / (hi - lo)[:, None, None])


def atrial_signal(sig: FloatArray, fs: float) -> tuple[FloatArray, float, int]:
    """The leads decimated to about `ANALYSIS_FS` and band-passed to the P-wave band, the new
    rate and the decimation factor."""
    x, fs2, q = _decimated(np.atleast_2d(sig)[:MAX_P_LEADS], fs)
    return bandpass(x, fs2, *P_BAND_HZ), fs2, q


def p_coherence(
    atrial: tuple[FloatArray, float, int],
    beats: IntArray,
    labels: tuple[str, ...],
    shift_s: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Per beat: the coherence of the P-wave segments of its window (1 = one repeating wave,
    ~1/n = none), and the window-mean segments (for shape comparisons).

    ``shift_s`` moves each beat's segment earlier by that many seconds (0 for the conducted
    P wave, half the RR for a blocked one).
    """
    x, fs2, q = atrial
    centres = np.asarray(np.round(beats / q - shift_s * fs2), dtype=np.int64)
    before, after = round(P_SEGMENT_S[0] * fs2), round(P_SEGMENT_S[1] * fs2)
    seg = _segments(x, centres, before, after)
    normal = np.array([lab != PVC for lab in labels], dtype=bool)
    seg = seg * normal[:, None, None]  # ventricular beats have no P wave of their own
    n_rr = len(beats) - 1
    mean = _window_mean(seg, n_rr)
    single = _window_mean(seg**2, n_rr).sum(axis=(1, 2))
    frac = _window_mean(normal.astype(np.float64)[:, None, None], n_rr)[:, 0, 0]
    coherent = (mean**2).sum(axis=(1, 2)) / np.maximum(frac, 1e-9) ** 2
    single = single / np.maximum(frac, 1e-9)
    single[single <= 0] = np.inf
    return np.asarray(coherent / single), mean


def _runs(mask: BoolArray) -> list[tuple[int, int]]:
    """(first, last) indices of the runs of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, stops = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return [(int(a), int(b) - 1) for a, b in zip(starts, stops, strict=True)]


def _merge_close(runs: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in runs:
        if out and a - out[-1][1] <= gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _rate(beats: IntArray, fs: float, first: int, last: int) -> float | None:
    if last <= first:
        return None
    return float(60.0 * fs * (last - first) / (beats[last] - beats[first]))


def _episode(kind: str, beats: IntArray, fs: float, first: int, last: int) -> Episode:
    return Episode(
        kind, beats[first] / fs, beats[last] / fs, last - first + 1, _rate(beats, fs, first, last)
    )


def ventricular_runs(beats: IntArray, labels: tuple[str, ...], fs: float) -> list[Episode]:
    """Couplets, triplets (slow runs) and VT from consecutive ventricular beats, and SVT from
    consecutive supraventricular premature beats."""
    out = []
    for label in (PVC, SVPB):
        mask = np.array([lab == label for lab in labels], dtype=bool)
        for a, b in _runs(mask):
            n = b - a + 1
            lo = max(a - 1, 0)  # the interval into the first beat of the run counts
            rate = _rate(beats, fs, lo, b)
            fast = rate is not None and rate >= VT_MIN_BPM
            if label == SVPB:
                if n >= VT_MIN_BEATS and fast:
                    out.append(Episode("svt", beats[a] / fs, beats[b] / fs, n, rate))
                continue
            kind = "couplet" if n == 2 else ("vt" if fast else "triplet") if n >= 3 else ""
            if kind:
                out.append(Episode(kind, beats[a] / fs, beats[b] / fs, n, rate))
    return out


def _geminy(beats: IntArray, labels: tuple[str, ...], fs: float, every: int) -> list[Episode]:
    """Chains of >= 3 ventricular beats each ``every`` beats after the previous one, the beats
    between them not ventricular (``every`` 2: bigeminy, 3: trigeminy)."""
    v = [k for k, lab in enumerate(labels) if lab == PVC]
    if not v:
        return []
    out, chain = [], [v[0]]
    for k in [*v[1:], -(10**9)]:
        if k - chain[-1] == every:
            chain.append(k)
            continue
        if len(chain) >= 3:
            first, last = max(chain[0] - 1, 0), chain[-1]
            out.append(_episode("bigeminy" if every == 2 else "trigeminy", beats, fs, first, last))
        chain = [k]
    return out


def pauses(beats: IntArray, fs: float) -> list[Episode]:
    """Every RR interval of at least `PAUSE_S`."""
    rr = np.diff(beats) / fs
    return [
        Episode("pause", beats[k] / fs, beats[k + 1] / fs, 2, 60.0 / float(rr[k]))
        for k in np.nonzero(rr >= PAUSE_S)[0]
    ]


@dataclass(frozen=True)
class BeatRhythm:
    """Per-beat rhythm measures (arrays of the beats' length)."""

    irregularity: FloatArray
    p_coherence: FloatArray
    blocked_p: BoolArray
    rate_bpm: FloatArray
    clustering: FloatArray

    def take(self, keep: npt.NDArray[np.bool_]) -> BeatRhythm:
        """The measures of the beats where ``keep`` is True."""
        return BeatRhythm(
            self.irregularity[keep], self.p_coherence[keep], self.blocked_p[keep],
            self.rate_bpm[keep], self.clustering[keep],
        )  # fmt: skip

    @staticmethod
    def concat(parts: list[BeatRhythm]) -> BeatRhythm:
        """Measures of consecutive chunks joined."""
        return BeatRhythm(
            np.concatenate([p.irregularity for p in parts]),
            np.concatenate([p.p_coherence for p in parts]),
            np.concatenate([p.blocked_p for p in parts]),
            np.concatenate([p.rate_bpm for p in parts]),
            np.concatenate([p.clustering for p in parts]),
        )


def beat_rhythm(
    sig: FloatArray, fs: float, beats: IntArray, labels: tuple[str, ...]
) -> BeatRhythm | None:
    """The per-beat measures behind the AF, sinus and AV-block episodes."""
    if len(beats) < 6:
        return None
    sig = np.atleast_2d(sig)
    rr = np.diff(beats) / fs
    irr = irregularity(beats, labels, fs)
    atrial = atrial_signal(sig, fs)
    coh, mean_p = p_coherence(atrial, beats, labels, np.zeros(len(beats)))
    w = min(WINDOW_BEATS, rr.size)
    lo, _ = _window_slices(rr.size, w)
    med_rr = np.median(sliding_window_view(rr, w), axis=1)[np.minimum(lo, rr.size - w)]
    rate = 60.0 / med_rr
    slow = rate < AVB_MAX_BPM
    blocked = np.zeros(len(beats), dtype=bool)
    if slow.any():
        coh2, mean_blocked = p_coherence(atrial, beats, labels, med_rr / 2)
        # compared by curvature (second differences): a P wave (~7 Hz) keeps its shape, the
        # slow tail of a T wave reaching into the segment (~2-3 Hz) mostly vanishes
        a = np.diff(mean_p, 2, axis=-1).reshape(len(beats), -1)
        b = np.diff(mean_blocked, 2, axis=-1).reshape(len(beats), -1)
        num = (a * b).sum(axis=1)
        den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        shape = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        energy = (b**2).sum(axis=1) / np.maximum((a**2).sum(axis=1), 1e-12)
        blocked = (
            slow & (coh >= P_COHERENT) & (coh2 >= P_COHERENT) & (shape >= AVB_SHAPE)
            & (energy >= 0.5) & (energy <= 2.0)
        )  # fmt: skip
    return BeatRhythm(irr, coh, blocked, rate, rr_clustering(beats, labels, fs))


def rhythm_episodes(
    sig: FloatArray,
    fs: float,
    beats: IntArray,
    labels: tuple[str, ...],
    flutter: bool = False,
) -> list[Episode]:
    """All episodes of a recording, sorted by start.

    Parameters
    ----------
    sig:
        Cleaned leads ``(n_leads, n_samples)`` in mV (baseline removed).
    fs:
        Sampling rate (Hz).
    beats, labels:
        QRS fiducials (samples) and their labels (``N``, ``S``, ``V``).
    flutter:
        The record-level flutter finding (`ecg.interpret.flutter_rate`): the whole record
        is then one flutter episode instead of AF.
    """
    beats = np.asarray(beats, dtype=np.int64)
    if len(beats) < 2:
        return []
    out = episodes_from_measures(beats, labels, fs, beat_rhythm(sig, fs, beats, labels), flutter)
    out += av_block_episodes(sig, fs, beats, labels, out)
    return sorted(out, key=lambda e: (e.start_s, e.kind))


def av_block_episodes(
    sig: FloatArray, fs: float, beats: IntArray, labels: tuple[str, ...], found: list[Episode]
) -> list[Episode]:
    """Mobitz I, Mobitz II and third-degree AV block episodes from the individual P waves
    (`ecg.avblock`), outside the AF, flutter and 2:1 block episodes already ``found``."""
    if len(beats) < 4:
        return []
    r = beats / fs
    p = p_waves(np.atleast_2d(sig), fs, beats, labels)
    busy = [(e.start_s, e.end_s) for e in found if e.kind in ("af", "flutter", "avb2_2to1")]
    if busy:
        p = p[~np.any([(p >= a) & (p <= b) for a, b in busy], axis=0)]
    out = []
    for kind in ("avb2_mobitz1", "avb2_mobitz2"):
        events = [e.beat for e in second_degree_events(p, r, labels) if e.kind == kind]
        runs = _merge_close([(k - 1, k + 1) for k in events], AV_MERGE_BEATS)
        out += [_episode(kind, beats, fs, a, b) for a, b in runs]
    complete = np.zeros(len(beats), dtype=bool)
    complete[third_degree_runs(p, r, labels)] = True
    out += [_episode("avb3", beats, fs, a, b) for a, b in _runs(complete)]
    return [e for e in out if not any(a <= e.start_s <= b for a, b in busy)]


def episodes_from_measures(
    beats: IntArray,
    labels: tuple[str, ...],
    fs: float,
    measures: BeatRhythm | None,
    flutter: bool = False,
) -> list[Episode]:
    """Episodes from beats, labels and per-beat measures (computed whole or chunk by chunk)."""
    out = ventricular_runs(beats, labels, fs)
    out += _geminy(beats, labels, fs, 2) + _geminy(beats, labels, fs, 3)
    out += pauses(beats, fs)
    if measures is not None:
        out += _atrial_episodes(measures, beats, fs, flutter)
    return sorted(out, key=lambda e: (e.start_s, e.kind))


def _atrial_episodes(m: BeatRhythm, beats: IntArray, fs: float, flutter: bool) -> list[Episode]:
    no_p = m.p_coherence < P_COHERENT
    irregular = np.nan_to_num(m.irregularity, nan=0.0) >= IRREGULAR
    irregular &= m.clustering < PATTERNED
    af = irregular & no_p
    loose = (irregular | no_p) & (m.clustering < PATTERNED)  # how far an episode may grow
    out = []
    runs = _merge_close([r for r in _runs(af) if r[1] - r[0] + 1 >= 2], MERGE_BEATS)
    af_runs = [
        _extend(r, loose, WINDOW_BEATS // 2) for r in runs if r[1] - r[0] + 1 >= MIN_AF_BEATS
    ]
    kind = "flutter" if flutter else "af"
    if flutter:
        af_runs = [(0, len(beats) - 1)]
    for a, b in af_runs:
        out.append(_episode(kind, beats, fs, a, b))
    in_af = np.zeros(len(beats), dtype=bool)
    for a, b in af_runs:
        in_af[a : b + 1] = True
    sinus = ~in_af & ~no_p & ~irregular
    for a, b in _runs(m.blocked_p & ~in_af):
        if b - a + 1 >= MIN_SINUS_BEATS:
            out.append(_episode("avb2_2to1", beats, fs, a, b))
    sinus &= ~m.blocked_p
    for kind, mask in (
        ("sinus_brady", m.rate_bpm < BRADY_BPM),
        ("sinus_tachy", m.rate_bpm > TACHY_BPM),
    ):
        for a, b in _runs(sinus & mask):
            if b - a + 1 >= MIN_SINUS_BEATS:
                out.append(_episode(kind, beats, fs, a, b))
    return out


def _extend(run: tuple[int, int], mask: BoolArray, limit: int) -> tuple[int, int]:
    """Grow a run by up to ``limit`` beats each way while ``mask`` holds: a window straddling
    the onset or end of an episode is only half in it, so the strict test starts late."""
    a, b = run
    for _ in range(limit):
        if a > 0 and mask[a - 1]:
            a -= 1
    for _ in range(limit):
        if b < mask.size - 1 and mask[b + 1]:
            b += 1
    return a, b


def af_burden_percent(episodes: list[Episode], duration_s: float) -> float | None:
    """Share of the recording (%) in AF or flutter; None for an empty recording."""
    return burden_percent(
        [(e.start_s, e.end_s) for e in episodes if e.kind in BURDEN_KINDS], duration_s
    )


BURDEN_KINDS = ("af", "flutter")
"""The episode kinds that count towards the AF burden."""


def burden_percent(spans: list[tuple[float, float]], duration_s: float) -> float | None:
    """Share (%) of a recording of ``duration_s`` covered by ``spans``; None when empty."""
    if duration_s <= 0:
        return None
    total = sum(end - start for start, end in spans)
    return round(min(100.0, 100.0 * total / duration_s), 1)
