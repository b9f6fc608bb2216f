"""12-lead evaluation: global intervals against LUDB, diagnoses against LUDB and CinC 2021.

Run alone with ``.venv/bin/python bench/ecg_eval_12lead.py``; the main evaluator
(``bench/ecg_eval.py``) imports this module when it can and calls :func:`report` (or the table
functions one by one).

Intervals: LUDB's cardiologists marked onset ``(``, peak and offset ``)`` of every P, QRS and T
wave in each of the 12 leads. As IEC 60601-2-25 defines global intervals, the reference of one
complex is the earliest onset and the latest offset over the leads; a record's reference is the
median over its complexes, compared with our measurement on the median beat. Tolerances for
biological ECGs (mean difference / standard deviation): P duration 10 / 15 ms, PR 10 / 10 ms,
QRS 6 / 10 ms, QT 12 / 30 ms.

Diagnoses: sensitivity and positive predictive value per diagnosis, pooled over LUDB records
(``ludb.csv``) and CinC 2021 records (SNOMED CT codes of the header's ``#Dx:`` line).
"""

from __future__ import annotations

import csv
import logging
import statistics
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ecg import EcgAnalysis, EcgRecord, analyze, read_wfdb_record  # noqa: E402
from ecg.readers.wfdb import parse_header  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "ecg"
LUDB_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
LUDB_UNITS_PER_MV = 1000.0  # the shared README: LUDB is physiological at 1000 units/mV

# IEC 60601-2-25:2011, 201.12.4.102.3.2 (biological ECGs): mean difference / SD (ms)
IEC_TOLERANCE_MS: dict[str, tuple[float, float]] = {
    "P": (10.0, 15.0),
    "PR": (10.0, 10.0),
    "QRS": (6.0, 10.0),
    "QT": (12.0, 30.0),
}
TARGET_SENSITIVITY = 0.8
TARGET_PPV = 0.7

# CinC 2021 SNOMED CT codes (the challenge's scored classes; equivalent codes together)
SNOMED: dict[str, tuple[str, ...]] = {
    "AF": ("164889003",),
    "AFL": ("164890007",),
    "LBBB": ("164909002", "733534002"),
    "RBBB": ("59118001", "713427006"),
    "IRBBB": ("713426002",),
    "AVB1": ("270492004",),
    "MI": ("164865005", "164867002", "57054005", "413444003", "426434006", "54329005"),
    "LAFB": ("445118002",),
    "IVCD": ("698252002",),
    "LVH": ("164873001", "55827005"),
    "LQT": ("111975006",),
    "LOWV": ("251146004",),
    "WPW": ("74390002",),
}
# Our statement codes that count as each diagnosis
OURS: dict[str, tuple[str, ...]] = {
    "AF": ("AF",),
    "AFL": ("AFL",),
    "LBBB": ("LBBB",),
    "RBBB": ("RBBB",),
    "IRBBB": ("IRBBB",),
    "ILBBB": ("ILBBB",),
    "AVB1": ("AVB1",),
    "STEMI": ("STEMI", "STEMI_POST", "STEMI_LBBB"),
    "MI": ("STEMI", "STEMI_POST", "STEMI_LBBB", "OLDMI"),
    "LAFB": ("LAFB",),
    "IVCD": ("IVCD",),
    "LVH": ("LVH",),
    "LQT": ("LQT",),
    "LOWV": ("LOWV",),
    "WPW": ("WPW",),
    "PACED": ("PACED",),
}
TARGETED = ("AF", "AFL", "LBBB", "RBBB", "AVB1", "STEMI", "MI")


@dataclass(frozen=True)
class WaveMark:
    """One annotated wave in one lead (samples)."""

    kind: str  # "p", "N" (QRS) or "t"
    onset: int
    peak: int
    offset: int


@dataclass(frozen=True)
class Reference:
    """A record's reference global intervals (ms; None where the wave is not annotated)."""

    p_ms: float | None
    pr_ms: float | None
    qrs_ms: float | None
    qt_ms: float | None
    p_waves: bool  # P waves annotated before most QRS complexes


@dataclass(frozen=True)
class IntervalRow:
    """Our interval against the reference over the records that have both."""

    name: str
    n: int
    mean_ms: float
    sd_ms: float
    p90_abs_ms: float
    tolerance: tuple[float, float]

    @property
    def passed(self) -> bool:
        """Within the IEC mean-difference and SD tolerances."""
        return abs(self.mean_ms) <= self.tolerance[0] and self.sd_ms <= self.tolerance[1]


@dataclass(frozen=True)
class DiagnosisRow:
    """Counts for one diagnosis."""

    name: str
    tp: int
    fp: int
    fn: int

    @property
    def sensitivity(self) -> float | None:
        """TP / (TP + FN), None without positives."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def ppv(self) -> float | None:
        """TP / (TP + FP), None without calls."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def passed(self) -> bool | None:
        """Sensitivity >= 80 % and PPV >= 70 % (None without positives)."""
        se, ppv = self.sensitivity, self.ppv
        if se is None:
            return None if ppv is None else False
        return se >= TARGET_SENSITIVITY and (ppv or 0.0) >= TARGET_PPV


# ---------------------------------------------------------------- LUDB


def ludb_ids(data: Path = DATA) -> list[int]:
    """LUDB record numbers present in ``data``."""
    folder = data / "ludb" / "data"
    if not folder.is_dir():
        return []
    return sorted(int(p.stem) for p in folder.glob("*.hea") if p.stem.isdigit())


def ludb_record(record_id: int, data: Path = DATA) -> EcgRecord:
    """A LUDB record rescaled to 1000 units/mV (its headers' per-lead gains are not physical)."""
    path = data / "ludb" / "data" / str(record_id)
    record = read_wfdb_record(path)
    header = parse_header(path.with_suffix(".hea").read_text(encoding="latin-1"))
    gains = np.array([s.gain for s in header.signals], dtype=np.float64)
    return EcgRecord(
        samples=record.samples * (gains / LUDB_UNITS_PER_MV)[:, None],
        fs=record.fs,
        leads=record.leads,
        source_format=record.source_format,
        patient=record.patient,
    )


def ludb_marks(record_id: int, data: Path = DATA) -> dict[str, list[WaveMark]]:
    """Per-lead wave annotations of one LUDB record."""
    import wfdb

    out: dict[str, list[WaveMark]] = {}
    for lead in LUDB_LEADS:
        ann = wfdb.rdann(str(data / "ludb" / "data" / str(record_id)), lead)
        sym, pos = list(ann.symbol), [int(x) for x in ann.sample]
        marks = []
        for k in range(1, len(sym) - 1):
            if sym[k] in ("p", "N", "t") and sym[k - 1] == "(" and sym[k + 1] == ")":
                marks.append(WaveMark(sym[k], pos[k - 1], pos[k], pos[k + 1]))
        out[lead] = marks
    return out


def _clusters(marks: Iterable[WaveMark], gap: int) -> list[list[WaveMark]]:
    """Group the marks of one kind from all leads by peak time (a new group after ``gap``)."""
    ordered = sorted(marks, key=lambda m: m.peak)
    groups: list[list[WaveMark]] = []
    for m in ordered:
        if groups and m.peak - groups[-1][0].peak <= gap:
            groups[-1].append(m)
        else:
            groups.append([m])
    return groups


def ludb_reference(record_id: int, data: Path = DATA) -> Reference:
    """Median over complexes of the global (earliest onset, latest offset) intervals."""
    fs = 500.0
    ms = 1000.0 / fs
    marks = ludb_marks(record_id, data)
    every = [m for lead in marks.values() for m in lead]
    qrs = [g for g in _clusters((m for m in every if m.kind == "N"), int(0.15 * fs)) if len(g) >= 6]
    p_groups = _clusters((m for m in every if m.kind == "p"), int(0.08 * fs))
    t_groups = _clusters((m for m in every if m.kind == "t"), int(0.15 * fs))
    p_dur, pr, qrs_d, qt = [], [], [], []
    for k, g in enumerate(qrs):
        on, off = min(m.onset for m in g), max(m.offset for m in g)
        qrs_d.append((off - on) * ms)
        before = [p for p in p_groups if on - 0.45 * fs <= min(m.onset for m in p) < on]
        if before:
            p = before[-1]
            p_on = min(m.onset for m in p)
            pr.append((on - p_on) * ms)
            p_dur.append((max(m.offset for m in p) - p_on) * ms)
        nxt = min(m.onset for m in qrs[k + 1]) if k + 1 < len(qrs) else 10**9
        after = [t for t in t_groups if off < min(m.peak for m in t) < nxt]
        if after:
            qt.append((max(m.offset for m in after[0]) - on) * ms)

    def med(values: list[float]) -> float | None:
        return float(statistics.median(values)) if values else None

    return Reference(med(p_dur), med(pr), med(qrs_d), med(qt), len(pr) >= 0.5 * max(len(qrs), 1))


def ludb_diagnoses(data: Path = DATA) -> dict[int, set[str]]:
    """Our diagnosis names for each LUDB record, from ``ludb.csv``."""
    out: dict[int, set[str]] = {}
    with (data / "ludb" / "ludb.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = " | " + " | ".join(str(v) for v in row.values()).lower().replace("\n", " | ")
            dx: set[str] = set()
            rules = {
                "AF": "atrial fibrillation",
                "AFL": "atrial flutter",
                "LBBB": "| complete left bundle branch block",
                "RBBB": "| complete right bundle branch block",
                "IRBBB": "incomplete right bundle branch block",
                "ILBBB": "incomplete left bundle branch block",
                "AVB1": "i degree av block",
                # "| stemi:" begins a line; LUDB's "undefined ischemia/scar/supp.nstemi:"
                # (suspected NSTEMI, or scar) also holds "stemi:" and is not a STEMI
                "STEMI": "| stemi:",
                "LAFB": "left anterior hemiblock",
                "IVCD": "non-specific intravintricular conduction delay",
                "LVH": "left ventricular hypertrophy",
            }
            for name, needle in rules.items():
                if needle in text:
                    dx.add(name)
            if "stemi:" in text or "scar formation" in text:  # STEMI, NSTEMI or scar
                dx.add("MI")
            # the "Cardiac pacing" column: pacemaker types, or "P-synchrony" (atrial-
            # synchronous ventricular pacing, VDD/VAT)
            if "pacing" in text or "pacemaker" in text or "p-synchrony" in text:
                dx.add("PACED")
            out[int(row["ID"])] = dx
    return out


# ---------------------------------------------------------------- CinC 2021


def cinc_records(data: Path = DATA) -> list[Path]:
    """CinC 2021 record paths (without extension)."""
    folder = data / "cinc2021"
    return sorted(p.with_suffix("") for p in folder.glob("*.hea")) if folder.is_dir() else []


def cinc_diagnoses(path: Path) -> set[str]:
    """Our diagnosis names from a CinC header's ``#Dx:`` SNOMED codes."""
    codes: set[str] = set()
    for line in path.with_suffix(".hea").read_text(encoding="latin-1").splitlines():
        if line.lstrip("# ").lower().startswith("dx:"):
            codes |= {c.strip() for c in line.split(":", 1)[1].split(",")}
    dx = {name for name, known in SNOMED.items() if codes & set(known)}
    if "10370003" in codes:
        dx.add("PACED")
    return dx


# ---------------------------------------------------------------- scoring


def called(result: EcgAnalysis) -> set[str]:
    """The diagnoses our statements name."""
    codes = {s.code for s in result.statements}
    return {name for name, ours in OURS.items() if codes & set(ours)}


@dataclass(frozen=True)
class Case:
    """One scored record: its name, our analysis, the reference diagnoses."""

    name: str
    result: EcgAnalysis
    truth: set[str]


def cases(data: Path = DATA) -> Iterator[Case]:
    """Every labelled record analysed (LUDB at 1000 units/mV, then CinC 2021)."""
    truth = ludb_diagnoses(data) if (data / "ludb" / "ludb.csv").is_file() else {}
    for n in ludb_ids(data):
        rec = ludb_record(n, data)
        yield Case(f"ludb/{n}", analyze(rec), truth.get(n, set()))
    for path in cinc_records(data):
        yield Case(f"cinc2021/{path.name}", analyze(read_wfdb_record(path)), cinc_diagnoses(path))


def diagnosis_rows(
    scored: Iterable[Case], names: Iterable[str] = tuple(OURS)
) -> list[DiagnosisRow]:
    """Sensitivity / PPV counts per diagnosis over ``scored``."""
    items = list(scored)
    rows = []
    for name in names:
        tp = fp = fn = 0
        for c in items:
            truth, ours = name in c.truth, name in called(c.result)
            if name == "MI" and "STEMI" in c.truth:
                truth = True
            tp += truth and ours
            fp += ours and not truth
            fn += truth and not ours
        rows.append(DiagnosisRow(name, tp, fp, fn))
    return rows


def interval_pairs(data: Path = DATA) -> dict[str, list[tuple[str, float, float]]]:
    """(record, ours, reference) per interval over the LUDB records."""
    out: dict[str, list[tuple[str, float, float]]] = {k: [] for k in IEC_TOLERANCE_MS}
    out["PR missing"] = []
    for n in ludb_ids(data):
        ref = ludb_reference(n, data)
        iv = analyze(ludb_record(n, data)).intervals
        for key, ours, theirs in (
            ("P", iv.p_ms, ref.p_ms),
            ("PR", iv.pr_ms, ref.pr_ms),
            ("QRS", iv.qrs_ms, ref.qrs_ms),
            ("QT", iv.qt_ms, ref.qt_ms),
        ):
            if ours is not None and theirs is not None:
                out[key].append((f"ludb/{n}", ours, theirs))
        if ref.p_waves and iv.pr_ms is None:
            out["PR missing"].append((f"ludb/{n}", float("nan"), ref.pr_ms or float("nan")))
    return out


def interval_rows(pairs: dict[str, list[tuple[str, float, float]]]) -> list[IntervalRow]:
    """Mean difference, SD and 90th percentile of the absolute error per interval."""
    rows = []
    for key, tol in IEC_TOLERANCE_MS.items():
        diffs = np.array([o - r for _, o, r in pairs[key]])
        if diffs.size == 0:
            continue
        rows.append(
            IntervalRow(
                key,
                int(diffs.size),
                float(diffs.mean()),
                float(diffs.std(ddof=1)) if diffs.size > 1 else 0.0,
                float(np.percentile(np.abs(diffs), 90)),
                tol,
            )
        )
    return rows


def format_intervals(rows: list[IntervalRow], missing: int, with_p: int) -> str:
    """A Markdown table of the interval rows."""
    lines = [
        "| interval | records | mean diff ms | SD ms | P90 abs ms | IEC mean / SD | within |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.n} | {r.mean_ms:+.1f} | {r.sd_ms:.1f} | {r.p90_abs_ms:.0f} | "
            f"+-{r.tolerance[0]:.0f} / {r.tolerance[1]:.0f} | {'yes' if r.passed else 'no'} |"
        )
    lines.append(f"\nPR missing on {missing} of {with_p} records with annotated P waves.")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}"


def format_diagnoses(rows: list[DiagnosisRow]) -> str:
    """A Markdown table of the diagnosis rows."""
    lines = [
        "| diagnosis | TP | FP | FN | sensitivity % | PPV % | target met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = {True: "yes", False: "no", None: "-"}[r.passed]
        star = "" if r.name in TARGETED else " (not targeted)"
        lines.append(
            f"| {r.name}{star} | {r.tp} | {r.fp} | {r.fn} | {_pct(r.sensitivity)} | "
            f"{_pct(r.ppv)} | {met} |"
        )
    return "\n".join(lines)


def misses(scored: Iterable[Case], name: str) -> list[str]:
    """Records where ``name`` is missed (``-``) or called falsely (``+``)."""
    out = []
    for c in scored:
        truth, ours = name in c.truth, name in called(c.result)
        if name == "MI" and "STEMI" in c.truth:
            truth = True
        if truth != ours:
            out.append(("-" if truth else "+") + c.name)
    return out


def report(data: Path = DATA, out: Callable[[str], None] = print, details: bool = False) -> None:
    """Print both 12-lead tables (the main evaluator calls this)."""
    if not ludb_ids(data) and not cinc_records(data):
        out("12-lead evaluation: no LUDB or CinC 2021 records found")
        return
    pairs = interval_pairs(data)
    with_p = sum(ludb_reference(n, data).p_waves for n in ludb_ids(data))
    out("\nGlobal intervals against LUDB (earliest onset / latest offset over 12 leads):\n")
    out(format_intervals(interval_rows(pairs), len(pairs["PR missing"]), with_p))
    scored = list(cases(data))
    out(f"\nDiagnoses over {len(scored)} records (LUDB + CinC 2021):\n")
    out(format_diagnoses(diagnosis_rows(scored)))
    if details:
        for name in OURS:
            wrong = misses(scored, name)
            if wrong:
                out(f"{name}: {' '.join(wrong)}")
        for key in IEC_TOLERANCE_MS:
            worst = sorted(pairs[key], key=lambda p: -abs(p[1] - p[2]))[:8]
            out(f"{key} worst: " + " ".join(f"{n}:{o - r:+.0f}" for n, o, r in worst))
        out("PR missing: " + " ".join(n for n, _, _ in pairs["PR missing"]))


def main() -> None:
    """Run the 12-lead evaluation alone (``--details`` lists the records behind the errors)."""
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    report(details="--details" in sys.argv)


if __name__ == "__main__":
    main()
