"""The overview of a long recording: rate trend, ectopy, rhythm episodes, AF burden (pure).

Built from the stored analysis (beats in the record's own samples, their labels, and the rhythm
episodes when the analysis has them). It also names what a reader must have looked at before
signing: the spans of the critical episodes (see :mod:`ecg.reading`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ecg.episodes import BURDEN_KINDS, burden_percent

SHORT_S = 60.0
"""Records up to this length are read whole, on one page; longer ones are paged."""
PAUSE_S = 2.0


def bin_seconds(duration_s: float) -> float:
    """The trend's bin: 10 s up to two hours, one minute beyond (1440 bins for 24 hours)."""
    return 10.0 if duration_s <= 2 * 3600 else 60.0


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def episodes_of(analysis: dict[str, Any], duration_s: float) -> list[dict[str, Any]]:
    """The analysis's rhythm episodes, checked and clipped to the recording (none if absent)."""
    out = []
    for raw in analysis.get("episodes") or []:
        if not isinstance(raw, dict):
            continue
        start, end = _float(raw.get("start_s")), _float(raw.get("end_s"))
        if start is None or end is None:
            continue
        start, end = max(0.0, start), min(duration_s, end)
        if end < start:
            continue
        kind = str(raw.get("kind", ""))[:32]
        out.append(
            {
                "kind": kind,
                "start_s": round(start, 3),
                "end_s": round(end, 3),
                "beats": raw.get("beats"),
                "rate_bpm": _float(raw.get("rate_bpm")),
                "label_zh": str(raw.get("label_zh") or kind),
                "label_en": str(raw.get("label_en") or kind),
                "critical": bool(raw.get("critical")),
            }
        )
    return sorted(out, key=lambda e: (e["start_s"], e["end_s"]))


def af_burden(
    analysis: dict[str, Any], episodes: list[dict[str, Any]], duration_s: float
) -> float | None:
    """The analysis's AF burden in percent, else the share of the record in AF episodes."""
    given = _float(analysis.get("af_burden_percent"))
    if given is not None:
        return round(given, 1)
    if "episodes" not in analysis:
        return None
    spans = [(e["start_s"], e["end_s"]) for e in episodes if e["kind"] in BURDEN_KINDS]
    return burden_percent(spans, duration_s)


def must_view(episodes: list[dict[str, Any]]) -> list[list[float]]:
    """The spans a reader must have seen before signing: the critical episodes, merged."""
    spans: list[list[float]] = []
    for e in episodes:
        if not e["critical"]:
            continue
        if spans and e["start_s"] <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], e["end_s"])
        else:
            spans.append([e["start_s"], e["end_s"]])
    return spans


def _trend(
    beats_s: np.ndarray, labels: list[str], duration_s: float, bin_s: float
) -> dict[str, Any]:
    n_bins = max(1, math.ceil(duration_s / bin_s))
    hr: list[float | None] = [None] * n_bins
    ventricular = [0] * n_bins
    supra = [0] * n_bins
    which = np.minimum((beats_s // bin_s).astype(np.int64), n_bins - 1)
    for i, label in enumerate(labels[: beats_s.size]):
        if label == "V":
            ventricular[which[i]] += 1
        elif label == "S":
            supra[which[i]] += 1
    longest = 0.0
    if beats_s.size >= 2:
        rr = np.diff(beats_s)
        longest = float(rr.max())
        ends = which[1:]
        order = np.argsort(ends, kind="stable")
        edges = np.searchsorted(ends[order], np.arange(n_bins + 1))
        for b in range(n_bins):
            chunk = rr[order[edges[b] : edges[b + 1]]]
            if chunk.size >= 2:
                hr[b] = round(60.0 / float(np.median(chunk)), 1)
    rates = [v for v in hr if v is not None]
    return {
        "hr": hr,
        "ventricular": ventricular,
        "supraventricular": supra,
        "hr_min": min(rates) if rates else None,
        "hr_max": max(rates) if rates else None,
        "longest_rr_s": round(longest, 3) if beats_s.size >= 2 else None,
    }


def overview(analysis: dict[str, Any], duration_s: float) -> dict[str, Any]:
    """The overview JSON of a recording from its stored analysis."""
    fs = _float(analysis.get("fs")) or 0.0
    raw_beats = analysis.get("beats") or []
    beats_s = np.asarray(raw_beats, dtype=np.float64) / fs if fs > 0 and raw_beats else np.zeros(0)
    beats_s = np.sort(beats_s[(beats_s >= 0) & (beats_s <= duration_s)])
    labels = [str(x) for x in analysis.get("beat_labels") or []]
    bin_s = bin_seconds(duration_s)
    episodes = episodes_of(analysis, duration_s)
    return {
        "duration_s": round(duration_s, 3),
        "long": duration_s > SHORT_S,
        "bin_s": bin_s,
        "beats": int(beats_s.size),
        **_trend(beats_s, labels if len(labels) == beats_s.size else [], duration_s, bin_s),
        "episodes": episodes,
        "episodes_known": "episodes" in analysis,
        "af_burden_percent": af_burden(analysis, episodes, duration_s),
        "must_view": must_view(episodes),
    }
