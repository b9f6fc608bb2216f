"""`analyze`: one pure entry point from an `EcgRecord` to an `EcgAnalysis` (no I/O)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecg.atrial import AtrialActivity, atrial_activity
from ecg.beats import Hrv, classify_beats, heart_rate_bpm, hrv
from ecg.dsp import LeadQuality, assess_quality, lowpass, notch, remove_baseline
from ecg.episodes import Episode, af_burden_percent, rhythm_episodes
from ecg.holter import (
    CHUNK_S,
    LONG_RECORD_S,
    MEASURE_S,
    clean_chunk,
    detect_chunked,
    hourly_summary,
    long_episodes,
)
from ecg.interpret import (
    CriticalThresholds,
    Findings,
    critical_findings,
    flutter_rate,
    interpret,
)
from ecg.measure import Axes, Intervals, Measurements, StLevel, measure
from ecg.pacing import Pacing, find_spikes, pacing, remove_spikes
from ecg.qrs import detect_qrs
from ecg.record import EcgRecord, MachineMeasurements
from ecg.statements import TEXTS, CriticalFinding, Statement

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class EcgAnalysis:
    """The result of `analyze`: picklable, and `to_dict` gives a JSON-safe dict."""

    fs: float
    duration_s: float
    leads: tuple[str, ...]
    beats: tuple[int, ...]
    beat_labels: tuple[str, ...]
    heart_rate_bpm: float | None
    hrv: Hrv
    intervals: Intervals
    axes: Axes
    st: tuple[StLevel, ...]
    quality: tuple[LeadQuality, ...]
    statements: tuple[Statement, ...]
    critical: bool
    critical_findings: tuple[CriticalFinding, ...]
    machine: MachineMeasurements | None
    age: int | None
    sex: str | None
    episodes: tuple[Episode, ...] = ()
    af_burden_percent: float | None = None
    holter: dict[str, object] | None = None
    conventional: dict[str, float | None] | None = None
    """QRS and QT as electrocardiographs conventionally report them (the clinical thresholds use
    these; ``intervals`` holds the IEC global ones, earliest onset to latest offset)."""

    @property
    def critical_reasons(self) -> list[str]:
        """English reasons for the critical flag."""
        return [TEXTS[f.code][0] for f in self.critical_findings]

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict: sampling, beats in the record's own samples, measurements, text."""
        counts = {lab: self.beat_labels.count(lab) for lab in ("N", "S", "V")}
        return {
            "fs": self.fs,
            "duration_s": round(self.duration_s, 3),
            "leads": list(self.leads),
            "beats": list(self.beats),
            "beat_labels": list(self.beat_labels),
            "beat_counts": counts,
            "heart_rate_bpm": None
            if self.heart_rate_bpm is None
            else round(self.heart_rate_bpm, 1),
            "hrv": self.hrv.to_dict(),
            "intervals": self.intervals.to_dict(),
            "axes": self.axes.to_dict(),
            "st": [s.to_dict() for s in self.st],
            "quality": [q.to_dict() for q in self.quality],
            "statements": [s.to_dict() for s in self.statements],
            "critical": self.critical,
            "critical_findings": [f.to_dict() for f in self.critical_findings],
            "critical_reasons": self.critical_reasons,
            "machine": self.machine.to_dict() if self.machine else None,
            "patient": {"age": self.age, "sex": self.sex},
            "episodes": [e.to_dict() for e in self.episodes],
            "af_burden_percent": self.af_burden_percent,
            "holter": self.holter,
            "conventional": self.conventional,
        }


def conventional_of(m: Measurements) -> dict[str, float | None]:
    """The device-style QRS and QT of ``m``, rounded to 1 ms."""
    return {
        "qrs_ms": None if m.qrs_core_ms is None else round(m.qrs_core_ms),
        "qt_ms": None if m.qt_typical_ms is None else round(m.qt_typical_ms),
    }


def _patient(record: EcgRecord, age: int | None, sex: str | None) -> tuple[int | None, str | None]:
    if sex is not None and sex not in ("M", "F"):
        raise ValueError(f"sex must be 'M', 'F' or None, not {sex!r}")
    if age is not None and not 0 <= age <= 150:
        raise ValueError(f"age out of range: {age!r}")
    known = record.patient
    return (
        age if age is not None else (known.age if known else None),
        sex if sex is not None else (known.sex if known else None),
    )


def _atrial(
    sig: FloatArray, fs: float, beats: IntArray, measurements: Measurements
) -> AtrialActivity | None:
    fid = measurements.fiducials
    if fid is None or beats.size < 4:
        return None
    end = fid.t_end_typical if fid.t_end_typical is not None else fid.t_end  # ecg12: typical lead
    t_end = None if end is None else end - fid.r
    on = fid.qrs_core_on if fid.qrs_core_on is not None else fid.qrs_on  # ecg12
    return atrial_activity(sig, fs, beats, fid.r - on, t_end)


def _pacing(spikes: list[int], fs: float, beats: npt.NDArray[np.int64], m: Measurements) -> Pacing:
    """Pacemaker spikes (found in the unfiltered samples: the filters would smear them into
    waves) related to each beat's QRS onset as the median beat places it."""
    fid = m.fiducials
    onset_s = None if fid is None else (fid.r - fid.qrs_on) / fs
    return pacing(None, fs, beats, onset_s, found=spikes)


def analyze(
    record: EcgRecord,
    *,
    age: int | None = None,
    sex: str | None = None,
    thresholds: CriticalThresholds | None = None,
    mains_hz: float | None = 50.0,
    chunk_s: float | None = None,
) -> EcgAnalysis:
    """Analyse an ECG: quality, QRS detection, beat labels, HRV, measurements, statements,
    rhythm episodes.

    ``age`` and ``sex`` (``"M"``/``"F"``) default to what the file says about the patient;
    they select the ST-elevation and QT thresholds. Recordings longer than
    `ecg.holter.LONG_RECORD_S` (or any, given ``chunk_s``) are analysed chunk by chunk and
    get a Holter summary.
    """
    thresholds = thresholds or CriticalThresholds()
    age, sex = _patient(record, age, sex)
    if chunk_s is not None or record.duration_s > LONG_RECORD_S:
        return _analyze_long(record, age, sex, thresholds, mains_hz, chunk_s or CHUNK_S)
    fs, raw = record.fs, record.samples
    spikes = find_spikes(raw, fs)
    raw = remove_spikes(raw, fs, spikes)
    filtered = remove_baseline(raw, fs)
    if mains_hz:
        filtered = notch(filtered, fs, mains_hz)
    quality = tuple(assess_quality(raw, filtered, fs, record.leads))
    usable = np.array([q.usable for q in quality])
    cleaned = lowpass(filtered, fs, 100.0)
    beats = detect_qrs(raw, fs, usable=usable) if usable.any() else np.zeros(0, np.int64)
    use = cleaned[usable] if usable.any() else cleaned
    labels = classify_beats(use, fs, beats) if beats.size else []
    if beats.size >= 2 and usable.any():
        measurements = measure(cleaned, fs, record.leads, beats, labels)
    else:
        measurements = Measurements(Intervals(), Axes(), (), None, None, False, {})
    findings = Findings(
        fs=fs,
        duration_s=record.duration_s,
        beats=beats,
        pacing=_pacing(spikes, fs, beats, measurements),
        labels=tuple(labels),
        heart_rate=heart_rate_bpm(beats, fs),
        measurements=measurements,
        unusable_leads=tuple(q.lead for q in quality if not q.usable),
        n_leads=len(record.leads),
        atrial=_atrial(use, fs, beats, measurements),
        age=age,
        sex=sex,
    )
    flutter = findings.atrial is not None and flutter_rate(findings) is not None
    episodes = tuple(rhythm_episodes(use, fs, beats, tuple(labels), flutter=flutter))
    findings = dataclasses.replace(findings, episodes=episodes)
    statements = interpret(findings)
    critical = critical_findings(findings, statements, thresholds)
    logger.debug(
        "analysed %d leads, %.1f s: %d beats, %d statements, critical=%s",
        len(record.leads), record.duration_s, beats.size, len(statements), bool(critical),
    )  # fmt: skip
    return EcgAnalysis(
        fs=fs,
        duration_s=record.duration_s,
        leads=record.leads,
        beats=tuple(int(b) for b in beats),
        beat_labels=tuple(labels),
        heart_rate_bpm=findings.heart_rate,
        hrv=hrv(beats, labels, fs),
        intervals=measurements.intervals,
        conventional=conventional_of(measurements),
        axes=measurements.axes,
        st=measurements.st,
        quality=quality,
        statements=tuple(statements),
        critical=bool(critical),
        critical_findings=tuple(critical),
        machine=record.machine,
        age=age,
        sex=sex,
        episodes=episodes,
        af_burden_percent=af_burden_percent(list(episodes), record.duration_s),
    )


def _analyze_long(
    record: EcgRecord,
    age: int | None,
    sex: str | None,
    thresholds: CriticalThresholds,
    mains_hz: float | None,
    chunk_s: float,
) -> EcgAnalysis:
    """`analyze` for long recordings: chunked beats and rhythm, measurements on the start."""
    fs = record.fs
    c = detect_chunked(record.samples, fs, record.leads, mains_hz, chunk_s)
    episodes = long_episodes(c, fs)
    usable = np.array([q.usable for q in c.quality], dtype=bool)
    n_head = min(int(MEASURE_S * fs), record.n_samples)
    head_beats = c.beats[c.beats < n_head - int(0.5 * fs)]
    head_labels = list(c.labels[: head_beats.size])
    if head_beats.size >= 2 and usable.any():
        _, cleaned = clean_chunk(record.samples[:, :n_head], fs, mains_hz)
        measurements = measure(cleaned, fs, record.leads, head_beats, head_labels)
    else:
        measurements = Measurements(Intervals(), Axes(), (), None, None, False, {})
    findings = Findings(
        fs=fs,
        duration_s=record.duration_s,
        beats=c.beats,
        labels=c.labels,
        heart_rate=heart_rate_bpm(c.beats, fs),
        measurements=measurements,
        unusable_leads=tuple(q.lead for q in c.quality if not q.usable),
        n_leads=len(record.leads),
        age=age,
        sex=sex,
        episodes=tuple(episodes),
    )
    statements = interpret(findings)
    critical = critical_findings(findings, statements, thresholds)
    logger.debug("analysed %.0f s in chunks: %d beats, %d episodes", record.duration_s,
                 c.beats.size, len(episodes))  # fmt: skip
    return EcgAnalysis(
        fs=fs,
        duration_s=record.duration_s,
        leads=record.leads,
        beats=tuple(c.beats.tolist()),
        beat_labels=c.labels,
        heart_rate_bpm=findings.heart_rate,
        hrv=hrv(c.beats, list(c.labels), fs),
        intervals=measurements.intervals,
        conventional=conventional_of(measurements),
        axes=measurements.axes,
        st=measurements.st,
        quality=c.quality,
        statements=tuple(statements),
        critical=bool(critical),
        critical_findings=tuple(critical),
        machine=record.machine,
        age=age,
        sex=sex,
        episodes=tuple(episodes),
        af_burden_percent=af_burden_percent(episodes, record.duration_s),
        holter=hourly_summary(c, fs, record.duration_s, episodes),
    )
