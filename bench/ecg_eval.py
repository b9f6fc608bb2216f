"""ECG evaluation on everything in ``../shared/data/ecg``: beats, AF episodes, 12-lead.

Run with ``.venv/bin/python bench/ecg_eval.py`` (add ``--fast`` to skip wfdb's slow XQRS and
GQRS on the 30-minute records, ``--sets mitdb,cpsc2019`` to choose sets, ``--ours`` to run our
detector only).

* QRS detection: sensitivity, positive predictivity and F1 per record and pooled per set,
  scored by ``wfdb.processing.compare_annotations`` with a 150 ms window on beat symbols
  only, for our detector (all leads), wfdb's GQRS and XQRS and NeuroKit2 (first lead), all
  in the same run. LUDB is annotated only between its first and last annotated QRS, so
  detections outside that span (plus the window) are not counted.
* AF episodes: on the records with rhythm annotations (``(AFIB`` / ``(AFL`` in ``aux_note``),
  sensitivity and PPV by duration (overlap seconds over reference / detected AF seconds), and
  whether AF/flutter is named on each record that holds >= 30 s of it and on none that
  holds none.
* 12-lead diagnoses and intervals: ``bench/ecg_eval_12lead.py`` (its ``main(data_dir)``), if
  importable.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg import analyze, read_wfdb_record  # noqa: E402
from ecg.qrs import detect_qrs  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "ecg"
BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")
WINDOW_S = 0.15
AF_NAMED_S = 30.0
SETS = ("mitdb", "svdb", "cpsc2021", "cpsc2019", "ludb")
LONG_SETS = ("mitdb", "svdb", "cpsc2021")

Detector = Callable[[np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class BeatRecord:
    """One record with its reference beats and the span the reference covers (samples)."""

    set: str
    name: str
    sig: np.ndarray
    fs: float
    ref: np.ndarray
    span: tuple[int, int]


def _gqrs(sig: np.ndarray, fs: float) -> np.ndarray:
    import wfdb.processing

    return np.asarray(wfdb.processing.gqrs_detect(sig=sig[0], fs=fs), dtype=np.int64)


def _xqrs(sig: np.ndarray, fs: float) -> np.ndarray:
    import wfdb.processing

    return np.asarray(wfdb.processing.xqrs_detect(sig=sig[0], fs=fs, verbose=False), np.int64)


def _neurokit(sig: np.ndarray, fs: float) -> np.ndarray:
    import neurokit2 as nk

    _, info = nk.ecg_peaks(sig[0], sampling_rate=int(fs), method="neurokit")
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


DETECTORS: dict[str, Detector] = {
    "ours": detect_qrs,
    "wfdb-gqrs": _gqrs,
    "wfdb-xqrs": _xqrs,
    "nk2": _neurokit,
}


def _beat_ref(path: Path, extension: str = "atr") -> np.ndarray:
    import wfdb

    ann = wfdb.rdann(str(path), extension)
    keep = [i for i, s in enumerate(ann.symbol) if s in BEAT_SYMBOLS]
    return np.asarray(ann.sample, dtype=np.int64)[keep]


def _records(name: str) -> list[Path]:
    folder = DATA / name / ("data" if name == "ludb" else "")
    heads = sorted(folder.glob("*.hea"), key=lambda p: (len(p.stem), p.stem))
    return [h.with_suffix("") for h in heads]


def beat_records(sets: tuple[str, ...]) -> Iterator[BeatRecord]:
    """The records of ``sets`` with beat references."""
    for set_ in sets:
        for path in _records(set_):
            record = read_wfdb_record(path)
            n = record.samples.shape[-1]
            if set_ == "ludb":
                ref = _beat_ref(path, "ii")
                margin = round(WINDOW_S * record.fs)
                span = (int(ref[0]) - margin, int(ref[-1]) + margin) if ref.size else (0, n)
            else:
                ref, span = _beat_ref(path), (0, n)
            yield BeatRecord(set_, path.name, record.samples, record.fs, ref, span)


@dataclass
class Score:
    """Beat counts (true positives, false negatives, false positives)."""

    tp: int = 0
    fn: int = 0
    fp: int = 0

    def add(self, other: Score) -> None:
        """Pool another score into this one."""
        self.tp, self.fn, self.fp = self.tp + other.tp, self.fn + other.fn, self.fp + other.fp

    @property
    def se(self) -> float:
        """Sensitivity."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def ppv(self) -> float:
        """Positive predictivity."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of the two."""
        return 2 * self.se * self.ppv / (self.se + self.ppv) if self.se + self.ppv else 0.0

    def row(self) -> str:
        """Se, +P, F1 in percent, and the missed / extra counts."""
        return (
            f"{100 * self.se:7.2f}{100 * self.ppv:7.2f}{100 * self.f1:7.2f}{self.fn:6d}{self.fp:6d}"
        )


def score_beats(ref: np.ndarray, test: np.ndarray, fs: float, span: tuple[int, int]) -> Score:
    """Compare detections with the reference (wfdb, 150 ms window) inside ``span``."""
    import wfdb.processing

    test = np.sort(test[(test >= span[0]) & (test <= span[1])])
    if ref.size == 0 or test.size == 0:
        return Score(0, int(ref.size), int(test.size))
    cmp = wfdb.processing.compare_annotations(ref, test, round(WINDOW_S * fs))
    return Score(int(cmp.tp), int(cmp.fn), int(cmp.fp))


def bench_qrs(sets: tuple[str, ...], detectors: dict[str, Detector], fast: bool) -> None:
    """Per record and pooled QRS scores of every detector."""
    names = list(detectors)
    print("\n## QRS detection (Se / +P / F1 %, missed, extra; 150 ms window)\n")
    print(f"{'set':<9}{'record':<15}" + "".join(f"| {n:<32}" for n in names))
    pooled: dict[tuple[str, str], Score] = {}
    seconds: dict[str, float] = dict.fromkeys(names, 0.0)
    for rec in beat_records(sets):
        cells = []
        for label, fn in detectors.items():
            if fast and label.startswith("wfdb") and rec.set in LONG_SETS:
                cells.append(f"| {'(skipped)':<32}")
                continue
            start = time.process_time()
            try:
                beats = np.asarray(fn(rec.sig, rec.fs), dtype=np.int64)
            except Exception as exc:  # a peer failing on a record scores it as all missed
                logging.getLogger(__name__).warning("%s failed on %s: %s", label, rec.name, exc)
                beats = np.zeros(0, dtype=np.int64)
            seconds[label] += time.process_time() - start
            s = score_beats(rec.ref, beats, rec.fs, rec.span)
            pooled.setdefault((rec.set, label), Score()).add(s)
            pooled.setdefault(("all", label), Score()).add(s)
            cells.append(f"| {s.row():<32}")
        print(f"{rec.set:<9}{rec.name:<15}" + "".join(cells), flush=True)
    print("\npooled")
    for set_ in (*sets, "all"):
        cells = [
            f"| {pooled[(set_, n)].row():<32}" if (set_, n) in pooled else f"| {'-':<32}"
            for n in names
        ]
        print(f"{set_:<24}" + "".join(cells))
    print(f"{'cpu seconds':<24}" + "".join(f"| {seconds[n]:<32.1f}" for n in names))


def af_reference(path: Path, fs: float, n: int) -> list[tuple[float, float]]:
    """Reference AF / flutter intervals (s) from the rhythm changes in ``aux_note``."""
    import wfdb

    ann = wfdb.rdann(str(path), "atr")
    out: list[tuple[float, float]] = []
    start: float | None = None
    for sample, note in zip(ann.sample, ann.aux_note, strict=True):
        note = (note or "").strip("\x00 ")
        if not note.startswith("("):
            continue
        t = sample / fs
        is_af = note.startswith(("(AFIB", "(AFL"))
        if start is not None and not is_af:
            out.append((start, t))
            start = None
        elif start is None and is_af:
            start = t
    if start is not None:
        out.append((start, n / fs))
    return out


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def _total(a: list[tuple[float, float]]) -> float:
    return sum(e - s for s, e in a)


def bench_af(sets: tuple[str, ...]) -> None:
    """AF episode sensitivity and PPV by duration, and AF named per record."""
    print("\n## AF / flutter episodes (by duration)\n")
    print(
        f"{'record':<18}{'ref AF s':>9}{'our AF s':>9}{'overlap':>9}{'Se %':>7}{'PPV %':>7}"
        f"{'burden ref':>11}{'ours':>6}  named (ref >= 30 s / ours)"
    )
    ref_all = ours_all = both_all = 0.0
    named_ok = named_total = 0
    for set_ in (s for s in sets if s in LONG_SETS):
        for path in _records(set_):
            record = read_wfdb_record(path)
            n = record.samples.shape[-1]
            ref = af_reference(path, record.fs, n)
            result = analyze(record)
            ours = [(e.start_s, e.end_s) for e in result.episodes if e.kind in ("af", "flutter")]
            r, o, both = _total(ref), _total(ours), _overlap(ref, ours)
            ref_all, ours_all, both_all = ref_all + r, ours_all + o, both_all + both
            se = f"{100 * both / r:7.1f}" if r else "      -"
            ppv = f"{100 * both / o:7.1f}" if o else "      -"
            named_ref = r >= AF_NAMED_S
            named = any(s.code in ("AF", "AFL") for s in result.statements)
            ok = named == named_ref if (named_ref or r == 0) else True
            named_ok += ok
            named_total += 1
            burden = result.af_burden_percent
            print(
                f"{set_ + '/' + path.name:<18}{r:9.0f}{o:9.0f}{both:9.0f}{se}{ppv}"
                f"{100 * r / (n / record.fs):11.1f}{burden if burden is not None else 0:6.1f}"
                f"  {'yes' if named_ref else 'no'} / {'yes' if named else 'no'}"
                f"{'' if ok else '  <-- wrong'}",
                flush=True,
            )
    se = 100 * both_all / ref_all if ref_all else float("nan")
    ppv = 100 * both_all / ours_all if ours_all else float("nan")
    print(
        f"{'pooled':<18}{ref_all:9.0f}{ours_all:9.0f}{both_all:9.0f}{se:7.1f}{ppv:7.1f}"
        f"   AF named correctly on {named_ok}/{named_total} records"
    )


def bench_12lead() -> None:
    """The 12-lead helper's evaluation, if present."""
    path = ROOT / "bench" / "ecg_eval_12lead.py"
    spec = importlib.util.spec_from_file_location("ecg_eval_12lead", path)
    if not path.exists() or spec is None or spec.loader is None:
        print("\n(12-lead evaluation: bench/ecg_eval_12lead.py not present)")
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    module.report(DATA, out=print)


def main(argv: list[str] | None = None) -> None:
    """Run the evaluation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--fast", action="store_true", help="no wfdb peers on 30 min records")
    parser.add_argument("--ours", action="store_true", help="our detector only")
    parser.add_argument("--no-qrs", action="store_true")
    parser.add_argument("--no-af", action="store_true")
    parser.add_argument("--no-12lead", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    sets = tuple(s for s in args.sets.split(",") if s)
    detectors = {"ours": DETECTORS["ours"]} if args.ours else DETECTORS
    if not args.no_qrs:
        bench_qrs(sets, detectors, args.fast)
    if not args.no_af:
        bench_af(sets)
    if not args.no_12lead:
        bench_12lead()


if __name__ == "__main__":
    main()
