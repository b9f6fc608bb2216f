"""Serial ECG comparison: a current analysis against the patient's prior one (pure, no I/O).

Both sides are the stored JSON form of `ecg.analysis.EcgAnalysis.to_dict` (what
`ecg.store.EcgRecording.analysis` holds), so a comparison can be made between recordings
analysed years apart without re-reading their files.

Thresholds, and where they come from
------------------------------------
- QTc change >= 60 ms (Fridericia): ICH E14, "The clinical evaluation of QT/QTc interval
  prolongation and proarrhythmic potential for non-antiarrhythmic drugs" (2005), section 3.2.2,
  categorical analysis: an increase from baseline of more than 60 ms is the outlier category of
  concern. Fridericia is the correction E14 discussions prefer over Bazett at varied rates.
- QRS widening >= 20 ms and PR change >= 40 ms: serial-comparison steps of the kind computerised
  ECG programs print ("QRS duration has increased"), set well above the reproducibility of
  global intervals on median beats (IEC 60601-2-25 accepts about 10 ms of bias on the CSE
  reference set for QRS and PR). They are the project's choice, not a guideline's.
- Frontal QRS axis shift >= 45 degrees: the step at which a serial program reports a "significant
  axis change"; a 45-degree shift also moves the axis across one hexaxial sector and is what
  new fascicular block produces (AHA/ACCF/HRS 2009 recommendations part III, Surawicz et al.,
  JACC 53:976: LAFB axis -45..-90). The project's choice, with that rationale.
- Heart rate change >= 20 /min: the serial program's "rate has increased/decreased" step; the
  project's choice.
- ST: a new elevation of >= 0.1 mV at the J point, or a new depression of >= 0.05 mV, in a lead:
  the Fourth Universal Definition of Myocardial Infarction (Thygesen et al., Circulation
  2018;138:e618), "new ST elevation at the J point ... >= 1 mm" and "new horizontal or
  downsloping ST depression >= 0.5 mm"; the definition asks for two contiguous leads, reported
  here as ``ST_ELEVATION_NEW`` / ``ST_DEPRESSION_NEW`` when two or more leads change. (The 1.5-2.5
  mm limits of V2-V3 apply to an absolute level; a change of 1 mm from the patient's own prior
  tracing is flagged in every lead.)
- Rhythm and diagnostic statements new or resolved since the prior: the statement codes of
  `ecg.statements` compared as sets; a new AF, flutter, STEMI, LBBB or VT statement is a flag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ecg.statements import TEXTS as STATEMENT_TEXTS

QTC_CHANGE_MS = 60.0
QRS_WIDENING_MS = 20.0
PR_CHANGE_MS = 40.0
AXIS_SHIFT_DEG = 45.0
RATE_CHANGE_BPM = 20.0
ST_ELEVATION_MV = 0.1
ST_DEPRESSION_MV = 0.05
CONTIGUOUS_LEADS = 2
ALERTING_NEW = frozenset(
    {"AF", "AFL", "AF_RVR", "STEMI", "STEMI_POST", "STEMI_LBBB", "LBBB", "VT", "AVB2_MOBITZ2",
     "AVB2_2TO1", "AVB3", "WPW"}
)  # fmt: skip

SERIAL_TEXTS = MappingProxyType(
    {
        "RATE_UP": ("Heart rate has increased", "心率较前增快"),
        "RATE_DOWN": ("Heart rate has decreased", "心率较前减慢"),
        "PR_CHANGE": ("PR interval has changed", "PR间期较前改变"),
        "QRS_WIDENED": ("QRS has widened", "QRS波较前增宽"),
        "QTC_CHANGE": ("QTc has changed by 60 ms or more", "QTc较前变化≥60毫秒"),
        "AXIS_SHIFT": ("Frontal QRS axis has shifted", "QRS额面电轴较前偏移"),
        "ST_ELEVATION_NEW": ("New ST elevation", "新出现ST段抬高"),
        "ST_DEPRESSION_NEW": ("New ST depression", "新出现ST段压低"),
        "NEW_STATEMENT": ("New finding", "新出现"),
        "RESOLVED_STATEMENT": ("No longer present", "已消失"),
    }
)


@dataclass(frozen=True)
class SerialMeasures:
    """The values a serial comparison looks at, read from a stored analysis."""

    heart_rate_bpm: float | None
    pr_ms: float | None
    qrs_ms: float | None
    qt_ms: float | None
    qtc_ms: float | None
    qrs_axis_deg: float | None
    st_j_mv: Mapping[str, float]
    statements: frozenset[str]

    @classmethod
    def of(cls, analysis: Mapping[str, Any]) -> SerialMeasures:
        """Pick the measures out of an `EcgAnalysis.to_dict` form; missing parts are None."""
        iv = _mapping(analysis.get("intervals"))
        axes = _mapping(analysis.get("axes"))
        st = analysis.get("st") or []
        statements = analysis.get("statements") or []
        return cls(
            heart_rate_bpm=_num(analysis.get("heart_rate_bpm")),
            pr_ms=_num(iv.get("pr_ms")),
            qrs_ms=_num(iv.get("qrs_ms")),
            qt_ms=_num(iv.get("qt_ms")),
            qtc_ms=_num(iv.get("qtc_fridericia_ms")),
            qrs_axis_deg=_num(axes.get("qrs")),
            st_j_mv=MappingProxyType(
                {
                    str(s["lead"]): float(s["j_mv"])
                    for s in st
                    if isinstance(s, Mapping) and _num(s.get("j_mv")) is not None
                }
            ),
            statements=frozenset(
                str(s["code"]) for s in statements if isinstance(s, Mapping) and "code" in s
            ),
        )


@dataclass(frozen=True)
class Change:
    """One measure, prior and current; ``delta`` is current minus prior."""

    name: str
    unit: str
    prior: float | None
    current: float | None
    delta: float | None
    threshold: float
    flag: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form, with the flag's texts."""
        return {
            "name": self.name, "unit": self.unit, "prior": self.prior, "current": self.current,
            "delta": self.delta, "threshold": self.threshold, "flag": self.flag,
            **_texts(self.flag),
        }  # fmt: skip


@dataclass(frozen=True)
class StChange:
    """A lead's ST level at the J point, prior and current (mV)."""

    lead: str
    prior_mv: float
    current_mv: float
    delta_mv: float
    flag: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form, rounded to 10 uV."""
        return {
            "lead": self.lead, "prior_mv": round(self.prior_mv, 3),
            "current_mv": round(self.current_mv, 3), "delta_mv": round(self.delta_mv, 3),
            "flag": self.flag,
        }  # fmt: skip


@dataclass(frozen=True)
class StatementChange:
    """A statement that appeared (``new``) or went away (``resolved``) since the prior."""

    code: str
    new: bool
    alerting: bool

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form with the statement's texts."""
        en, zh = STATEMENT_TEXTS.get(self.code, (self.code, self.code))
        return {"code": self.code, "new": self.new, "alerting": self.alerting, "en": en, "zh": zh}


@dataclass(frozen=True)
class SerialComparison:
    """The current ECG against the prior one: measures, ST per lead, statements, flags."""

    changes: tuple[Change, ...]
    st: tuple[StChange, ...]
    statements: tuple[StatementChange, ...]
    flags: tuple[str, ...]

    @property
    def significant(self) -> bool:
        """True when any threshold was met or an alerting statement is new."""
        return bool(self.flags)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "changes": [c.to_dict() for c in self.changes],
            "st": [s.to_dict() for s in self.st],
            "statements": [s.to_dict() for s in self.statements],
            "flags": [{"code": f, **_texts(f)} for f in self.flags],
            "significant": self.significant,
        }


def compare(prior: Mapping[str, Any], current: Mapping[str, Any]) -> SerialComparison:
    """Compare two stored analyses (``EcgAnalysis.to_dict`` forms), prior first."""
    a, b = SerialMeasures.of(prior), SerialMeasures.of(current)
    changes = (
        _rate(a.heart_rate_bpm, b.heart_rate_bpm),
        _change("pr_ms", "ms", a.pr_ms, b.pr_ms, PR_CHANGE_MS, "PR_CHANGE", both_ways=True),
        _change("qrs_ms", "ms", a.qrs_ms, b.qrs_ms, QRS_WIDENING_MS, "QRS_WIDENED"),
        _change("qt_ms", "ms", a.qt_ms, b.qt_ms, math.inf, ""),
        _change("qtc_ms", "ms", a.qtc_ms, b.qtc_ms, QTC_CHANGE_MS, "QTC_CHANGE", both_ways=True),
        _axis(a.qrs_axis_deg, b.qrs_axis_deg),
    )
    st = tuple(
        _st(lead, a.st_j_mv[lead], b.st_j_mv[lead]) for lead in b.st_j_mv if lead in a.st_j_mv
    )
    statements = tuple(
        [StatementChange(c, True, c in ALERTING_NEW) for c in sorted(b.statements - a.statements)]
        + [StatementChange(c, False, False) for c in sorted(a.statements - b.statements)]
    )
    flags = [c.flag for c in changes if c.flag]
    for flag in ("ST_ELEVATION_NEW", "ST_DEPRESSION_NEW"):
        if sum(s.flag == flag for s in st) >= CONTIGUOUS_LEADS:
            flags.append(flag)
    flags += [f"NEW_{s.code}" for s in statements if s.alerting]
    return SerialComparison(changes, st, statements, tuple(flags))


def axis_difference(prior: float, current: float) -> float:
    """Signed shortest angle from ``prior`` to ``current`` (degrees, -180..180]."""
    d = (current - prior + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


def _change(
    name: str,
    unit: str,
    prior: float | None,
    current: float | None,
    threshold: float,
    flag: str,
    *,
    both_ways: bool = False,
) -> Change:
    if prior is None or current is None:
        return Change(name, unit, prior, current, None, threshold)
    delta = current - prior
    hit = (abs(delta) if both_ways else delta) >= threshold
    return Change(name, unit, prior, current, delta, threshold, flag if hit else "")


def _rate(prior: float | None, current: float | None) -> Change:
    change = _change("heart_rate_bpm", "/min", prior, current, RATE_CHANGE_BPM, "", both_ways=True)
    if change.delta is None or abs(change.delta) < RATE_CHANGE_BPM:
        return change
    return Change(**{**change.__dict__, "flag": "RATE_UP" if change.delta > 0 else "RATE_DOWN"})


def _axis(prior: float | None, current: float | None) -> Change:
    if prior is None or current is None:
        return Change("qrs_axis_deg", "°", prior, current, None, AXIS_SHIFT_DEG)
    delta = axis_difference(prior, current)
    flag = "AXIS_SHIFT" if abs(delta) >= AXIS_SHIFT_DEG else ""
    return Change("qrs_axis_deg", "°", prior, current, delta, AXIS_SHIFT_DEG, flag)


def _st(lead: str, prior: float, current: float) -> StChange:
    delta = current - prior
    flag = ""
    if delta >= ST_ELEVATION_MV - 1e-9:
        flag = "ST_ELEVATION_NEW"
    elif delta <= -ST_DEPRESSION_MV + 1e-9:
        flag = "ST_DEPRESSION_NEW"
    return StChange(lead, prior, current, delta, flag)


def _texts(code: str) -> dict[str, str]:
    en, zh = SERIAL_TEXTS.get(code, ("", ""))
    if code.startswith("NEW_") and code[4:] in STATEMENT_TEXTS:
        s_en, s_zh = STATEMENT_TEXTS[code[4:]]
        en, zh = f"New: {s_en}", f"新出现：{s_zh}"
    return {"en": en, "zh": zh}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
