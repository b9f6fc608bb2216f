"""Holter benchmark: a 24-hour 2-lead recording analysed whole, its time and peak memory.

Run with ``.venv/bin/python bench/holter.py [--hours 24]``. The recording is assembled from
the shared 30-minute records (MIT-BIH 100-232 resampled from 360 to 200 Hz, CPSC 2021 at
200 Hz), repeated in turn until it lasts ``--hours``; their reference beats come along, so
the QRS detection is scored over the whole day too. Printed: CPU seconds and wall seconds of
`ecg.analyze`, the process's peak resident memory, beats, episodes, AF burden, the hourly
table's first rows, and the QRS scores (150 ms window).
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy import signal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg import EcgRecord, analyze, read_wfdb_record  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "ecg"
FS = 200.0
BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")
SOURCES = ("mitdb", "cpsc2021")


def _pieces() -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(2-lead samples at `FS`, reference beat samples) of each shared record."""
    import wfdb

    for name in SOURCES:
        for head in sorted((DATA / name).glob("*.hea")):
            path = head.with_suffix("")
            record = read_wfdb_record(path)
            ann = wfdb.rdann(str(path), "atr")
            symbols = zip(ann.sample, ann.symbol, strict=True)
            ref = np.array([s for s, c in symbols if c in BEAT_SYMBOLS], dtype=np.int64)
            x = record.samples[:2]
            if record.fs != FS:
                up, down = int(FS), int(record.fs)
                g = np.gcd(up, down)
                x = signal.resample_poly(x, up // g, down // g, axis=-1)
                ref = np.round(ref * FS / record.fs).astype(np.int64)
            yield np.asarray(x, dtype=np.float64), ref


def assemble(hours: float) -> tuple[EcgRecord, np.ndarray]:
    """A recording of ``hours`` from the shared records in turn, and its reference beats.

    The records are read once; the day repeats them by copying the first cycle in place.
    """
    n = int(hours * 3600 * FS)
    samples = np.empty((2, n))
    refs, pos = [], 0
    for x, ref in _pieces():
        take = min(x.shape[-1], n - pos)
        samples[:, pos : pos + take] = x[:, :take]
        refs.append(ref[ref < take] + pos)
        pos += take
        if pos >= n:
            break
    cycle, cycle_refs = pos, np.concatenate(refs)
    while pos < n:
        take = min(cycle, n - pos)
        samples[:, pos : pos + take] = samples[:, :take]
        refs.append(cycle_refs[cycle_refs < take] + pos)
        pos += take
    record = EcgRecord(samples=samples, fs=FS, leads=("I", "II"), source_format="synthetic")
    del samples
    return record, np.concatenate(refs)


def _score(ref: np.ndarray, beats: np.ndarray) -> tuple[float, float, float]:
    import wfdb.processing

    cmp = wfdb.processing.compare_annotations(ref, beats, round(0.15 * FS))
    se, pp = cmp.sensitivity, cmp.positive_predictivity
    return se, pp, 2 * se * pp / (se + pp)


def main() -> None:
    """Assemble, analyse, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    record, ref = assemble(args.hours)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu = time.perf_counter(), time.process_time()
    result = analyze(record)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    beats = np.asarray(result.beats)
    se, pp, f1 = _score(ref, beats)
    print(f"recording: {record.duration_s / 3600:.1f} h, 2 leads at {FS:.0f} Hz "
          f"({record.samples.nbytes / 2**20:.0f} MB of float64 samples)")  # fmt: skip
    print(f"analyze(): {cpu:.1f} s CPU, {wall:.1f} s wall (target < 20 s of one core)")
    print(
        f"peak resident memory: {peak:.0f} MB (before analysis {rss_before:.0f} MB; target < 1024)"
    )
    print(f"beats: {beats.size} (reference {ref.size}); QRS Se {100 * se:.2f} % "
          f"+P {100 * pp:.2f} % F1 {100 * f1:.2f} %")  # fmt: skip
    holter = result.holter or {}
    print(f"AF burden: {result.af_burden_percent} %; longest pause "
          f"{holter.get('longest_pause_s')} s at {holter.get('longest_pause_at_s')} s")  # fmt: skip
    print(f"episodes: {holter.get('episode_counts')}")
    print(f"{'hour':>4}{'beats':>7}{'mean':>6}{'min':>6}{'max':>6}{'PVC':>6}{'SVPB':>6}{'AF s':>7}")
    for row in holter.get("hours", [])[:6]:  # type: ignore[attr-defined]
        print(
            f"{row['hour']:4d}{row['beats']:7d}{row['mean_hr_bpm']:6.0f}{row['min_hr_bpm']:6.0f}"
            f"{row['max_hr_bpm']:6.0f}{row['pvc']:6d}{row['svpb']:6d}{row['af_s']:7.0f}"
        )
    print(f"statements: {[s.code for s in result.statements]}")


if __name__ == "__main__":
    main()
