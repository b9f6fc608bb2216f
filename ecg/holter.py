"""Long recordings (Holter, 30 min to 48 h) analysed whole, chunk by chunk.

Filtering, QRS detection, beat labelling and the per-beat rhythm measures run on chunks of
`CHUNK_S` with `OVERLAP_S` of signal on each side, so memory stays bounded and every beat is
judged with its full neighbourhood; each chunk keeps only the beats of its core. Episodes are
then built once over the joined beat series (an AF episode crossing a chunk boundary is one
episode). The 12-lead measurements come from the first `MEASURE_S` of the recording.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecg.beats import PVC, SVPB, classify_beats
from ecg.dsp import LeadQuality, assess_quality, lowpass, notch, remove_baseline
from ecg.episodes import BeatRhythm, Episode, beat_rhythm, episodes_from_measures

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CHUNK_S = 300.0
OVERLAP_S = 20.0  # >= the 16-beat rhythm window down to 48/min, and filter settling
MEASURE_S = 10.0
LONG_RECORD_S = 600.0  # recordings longer than this take the chunked path


@dataclass(frozen=True)
class ChunkedBeats:
    """Beats of a whole recording with their labels and per-beat rhythm measures."""

    beats: IntArray
    labels: tuple[str, ...]
    measures: BeatRhythm | None
    quality: tuple[LeadQuality, ...]


def chunks(
    n: int, fs: float, chunk_s: float, overlap_s: float
) -> Iterator[tuple[int, int, int, int]]:
    """(lo, hi, core_lo, core_hi) sample ranges: the chunk read and the part it answers for."""
    step, pad = max(int(chunk_s * fs), 1), int(overlap_s * fs)
    for core_lo in range(0, n, step):
        core_hi = min(core_lo + step, n)
        yield max(core_lo - pad, 0), min(core_hi + pad, n), core_lo, core_hi


def clean_chunk(
    raw: FloatArray, fs: float, mains_hz: float | None
) -> tuple[FloatArray, FloatArray]:
    """(baseline- and mains-free, and also low-passed) copies of a stretch of signal."""
    filtered = remove_baseline(raw, fs)
    if mains_hz:
        filtered = notch(filtered, fs, mains_hz)
    return filtered, lowpass(filtered, fs, 100.0)


def _combine_quality(parts: list[list[LeadQuality]]) -> tuple[LeadQuality, ...]:
    """A lead is usable when it was usable in at least half of the chunks."""
    out = []
    for i, first in enumerate(parts[0]):
        usable = sum(p[i].usable for p in parts) * 2 >= len(parts)
        problems = sorted({q for p in parts for q in p[i].problems}) if not usable else []
        ratio = float(np.median([p[i].noise_ratio for p in parts]))
        out.append(LeadQuality(first.lead, usable, tuple(problems), ratio))
    return tuple(out)


def detect_chunked(
    samples: FloatArray,
    fs: float,
    leads: tuple[str, ...],
    mains_hz: float | None = 50.0,
    chunk_s: float = CHUNK_S,
    overlap_s: float = OVERLAP_S,
) -> ChunkedBeats:
    """Beats, labels, per-beat measures and lead quality of a long recording, by chunks."""
    from ecg.qrs import detect_qrs

    n = samples.shape[-1]
    all_beats: list[IntArray] = []
    all_labels: list[str] = []
    measures: list[BeatRhythm] = []
    qualities: list[list[LeadQuality]] = []
    for lo, hi, core_lo, core_hi in chunks(n, fs, chunk_s, overlap_s):
        raw = np.asarray(samples[:, lo:hi], dtype=np.float64)
        filtered, cleaned = clean_chunk(raw, fs, mains_hz)
        quality = assess_quality(raw, filtered, fs, leads)
        qualities.append(quality)
        usable = np.array([q.usable for q in quality])
        if not usable.any():  # a stretch of poor signal still has beats worth finding
            usable[:] = True
        beats = detect_qrs(raw, fs, usable=usable)
        if beats.size == 0:
            continue
        use = cleaned[usable]
        labels = classify_beats(use, fs, beats)
        m = beat_rhythm(use, fs, beats, tuple(labels))
        keep = (beats + lo >= core_lo) & (beats + lo < core_hi)
        all_beats.append(beats[keep] + lo)
        all_labels += [lab for lab, k in zip(labels, keep, strict=True) if k]
        if m is not None:
            measures.append(m.take(keep))
        else:  # too few beats in this chunk to judge the rhythm: neutral measures
            k = int(keep.sum())
            measures.append(
                BeatRhythm(
                    np.full(k, np.nan), np.ones(k), np.zeros(k, bool), np.full(k, 70.0), np.ones(k)
                )
            )
    beats = np.concatenate(all_beats) if all_beats else np.zeros(0, np.int64)
    joined = BeatRhythm.concat(measures) if measures else None
    if joined is not None and joined.rate_bpm.size != beats.size:
        joined = None
    return ChunkedBeats(
        beats, tuple(all_labels), joined, _combine_quality(qualities) if qualities else ()
    )


def long_episodes(c: ChunkedBeats, fs: float) -> list[Episode]:
    """Episodes over the whole recording."""
    if c.beats.size < 2:
        return []
    return sorted(
        episodes_from_measures(c.beats, c.labels, fs, c.measures),
        key=lambda e: (e.start_s, e.kind),
    )


def hourly_summary(
    c: ChunkedBeats, fs: float, duration_s: float, episodes: list[Episode]
) -> dict[str, object]:
    """The Holter report's tables: per hour beats, rates, ectopy and AF; longest pause."""
    t = c.beats / fs
    labels = np.asarray(c.labels)
    rows = []
    af = [e for e in episodes if e.kind in ("af", "flutter")]
    for hour in range(int(np.ceil(duration_s / 3600.0))):
        lo, hi = hour * 3600.0, min((hour + 1) * 3600.0, duration_s)
        sel = (t >= lo) & (t < hi)
        bt = t[sel]
        minute_rates = _minute_rates(bt, lo, hi)
        af_s = sum(max(0.0, min(e.end_s, hi) - max(e.start_s, lo)) for e in af)
        rows.append(
            {
                "hour": hour,
                "start_s": lo,
                "beats": int(sel.sum()),
                "mean_hr_bpm": round(60.0 * sel.sum() / (hi - lo), 1) if hi > lo else None,
                "min_hr_bpm": round(min(minute_rates), 1) if minute_rates else None,
                "max_hr_bpm": round(max(minute_rates), 1) if minute_rates else None,
                "pvc": int((labels[sel] == PVC).sum()),
                "svpb": int((labels[sel] == SVPB).sum()),
                "af_s": round(af_s, 1),
            }
        )
    rr = np.diff(t)
    k = int(np.argmax(rr)) if rr.size else -1
    counts: dict[str, int] = {}
    for e in episodes:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    return {
        "hours": rows,
        "total_beats": int(t.size),
        "pvc": int((labels == PVC).sum()),
        "svpb": int((labels == SVPB).sum()),
        "longest_pause_s": round(float(rr[k]), 2) if k >= 0 else None,
        "longest_pause_at_s": round(float(t[k]), 1) if k >= 0 else None,
        "episode_counts": counts,
    }


def _minute_rates(t: FloatArray, lo: float, hi: float) -> list[float]:
    """Mean rate over each whole minute with beats (the Holter min / max HR convention)."""
    if t.size < 2:
        return []
    minute = np.floor((t - lo) / 60.0).astype(np.int64)
    counts = np.bincount(minute)
    full = int((hi - lo) // 60)
    return [float(c) for c in counts[:full] if c > 0]
