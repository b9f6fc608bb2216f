"""12-lead criteria on synthetic records with known truth, and global intervals on LUDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecg import EcgAnalysis, analyze
from ecg.conduction import LeadQrs, Voltage, lvh, pathological_q
from ecg.measure import StLevel
from ecg.stemi import posterior, sgarbossa, territories
from tests.ecg.synth import SynthSpec, synth


def _run(spec: SynthSpec) -> EcgAnalysis:
    return analyze(synth(spec), age=spec.age, sex=spec.sex)


def _codes(result: EcgAnalysis) -> set[str]:
    return {s.code for s in result.statements}


def _statement(result: EcgAnalysis, code: str) -> dict[str, object]:
    found = [s for s in result.statements if s.code == code]
    assert found, f"{code} not in {_codes(result)}"
    return dict(found[0].values)


def test_lbbb_called_without_false_stemi() -> None:
    # discordant ST elevation in V1-V3 proportionate to the S wave (under a quarter of its
    # depth: Smith 2012) is part of LBBB, not an infarct; the synthetic S in V3 is ~0.5 mV
    spec = SynthSpec(qrs_pattern="lbbb", st_chest={"V1": 0.2, "V2": 0.25, "V3": 0.1}, sex="M")
    result = _run(spec)
    assert "LBBB" in _codes(result)
    assert not _codes(result) & {"STEMI", "STEMI_LBBB", "RBBB", "IVCD"}
    assert not result.critical


def test_lbbb_with_concordant_st_elevation_meets_sgarbossa() -> None:
    spec = SynthSpec(qrs_pattern="lbbb", st_chest={"V5": 0.2, "V6": 0.2}, st_frontal=(0.15, -10))
    result = _run(spec)
    assert "LBBB" in _codes(result)
    assert _statement(result, "STEMI_LBBB")["sgarbossa"] == 5
    assert "STEMI_LBBB" in {f.code for f in result.critical_findings}


def test_rbbb_called() -> None:
    result = _run(SynthSpec(qrs_pattern="rbbb"))
    assert "RBBB" in _codes(result)
    assert not _codes(result) & {"LBBB", "IVCD", "STEMI"}


def test_normal_conduction_has_no_block() -> None:
    result = _run(SynthSpec())
    assert not _codes(result) & {"LBBB", "RBBB", "IRBBB", "ILBBB", "IVCD", "WPW", "LQT", "LVH"}


def test_inferior_stemi_with_reciprocal_depression() -> None:
    result = _run(SynthSpec(st_frontal=(0.25, 90)))
    values = _statement(result, "STEMI")
    assert values["territories"] == ["inferior"]
    assert set(values["leads"]) >= {"II", "III", "aVF"}  # type: ignore[arg-type]
    assert "aVL" in values["reciprocal_leads"]  # type: ignore[operator]
    assert result.critical


def test_anterior_stemi_territory() -> None:
    spec = SynthSpec(st_chest={"V2": 0.3, "V3": 0.35, "V4": 0.25}, sex="M", age=60)
    values = _statement(_run(spec), "STEMI")
    assert values["territories"] == ["anterior"]


def test_posterior_stemi_equivalent() -> None:
    result = _run(SynthSpec(st_chest={"V1": -0.15, "V2": -0.2, "V3": -0.15}))
    assert set(_statement(result, "STEMI_POST")["leads"]) >= {"V2"}  # type: ignore[arg-type]
    assert "STEMI" not in _codes(result)
    assert result.critical


def test_no_false_stemi_in_fast_sinus_with_long_pr() -> None:
    # sinus 160/min, PR 280 ms: each P wave falls on the preceding ST segment
    result = _run(SynthSpec(rate_bpm=160, pr_s=0.28))
    assert not _codes(result) & {"STEMI", "STEMI_POST"}
    assert "STEMI" not in {f.code for f in result.critical_findings}


def test_lvh_by_voltage() -> None:
    result = _run(SynthSpec(chest_gain=1.6, age=50, sex="M"))
    assert "sokolow_lyon" in _statement(result, "LVH")["criteria"]  # type: ignore[operator]
    assert "LVH" not in _codes(_run(SynthSpec(age=50, sex="M")))


def test_lvh_criteria_by_sex_and_age() -> None:
    assert lvh(Voltage(3.6, 1.0), "M", 50) == ["sokolow_lyon"]
    assert lvh(Voltage(3.6, 1.0), "M", 20) == []  # young adults exceed Sokolow-Lyon normally
    assert lvh(Voltage(2.0, 2.4), "F", 50) == ["cornell"]
    assert lvh(Voltage(2.0, 2.4), "M", 50) == []  # men: > 2.8 mV


def _lead(q_mv: float = 0.0, q_ms: float = 0.0, r_mv: float = 1.0, s_mv: float = 0.2) -> LeadQrs:
    return LeadQrs(r_mv, s_mv, q_mv, q_ms, 40.0, 0.0, False, False, 0.5)


def test_pathological_q_needs_two_contiguous_leads() -> None:
    normal = {n: _lead() for n in ("I", "II", "III", "aVL", "aVF", "V2", "V3", "V4", "V5", "V6")}
    assert pathological_q(normal) == []
    inferior = {**normal, "III": _lead(0.3, 40), "aVF": _lead(0.2, 35)}
    assert pathological_q(inferior) == ["III", "aVF"]
    lone = {**normal, "III": _lead(0.3, 40)}
    assert pathological_q(lone) == []
    septal_qs = {**normal, "V2": _lead(r_mv=0.0, s_mv=1.0), "V3": _lead(r_mv=0.0, s_mv=0.8)}
    assert pathological_q(septal_qs) == ["V2", "V3"]


def test_stemi_reciprocity_and_equivalents_on_levels() -> None:
    def st(**j: float) -> tuple[StLevel, ...]:
        return tuple(StLevel(n, v, v) for n, v in j.items())

    # a lone contiguous pair without a mirror image is not read as STEMI
    assert territories(st(II=0.15, aVF=0.15, I=0.0, aVL=0.0), 60, "M") is None
    reading = territories(st(II=0.15, aVF=0.15, I=-0.05, aVL=-0.1), 60, "M")
    assert reading is not None
    assert reading.territories == ("inferior",)
    assert posterior(st(V1=-0.15, V2=-0.2, V3=-0.1, V4=0.0, V5=0.0, V6=0.0)) == ["V1", "V2", "V3"]
    assert posterior(st(V1=-0.15, V2=-0.2, V4=-0.3, V5=-0.3, V6=-0.2)) == []  # diffuse
    concordant = sgarbossa(st(V5=0.15, V1=0.1), {"V5": 1.0, "V1": -1.0})
    discordant = sgarbossa(st(V1=0.3, V2=0.3), {"V1": -1.5, "V2": -2.0})
    assert concordant >= 5
    assert discordant == 0


# ---------------------------------------------------------------- LUDB (shared records)

# Per-record bounds: twice the IEC standard deviation around zero (a single record's error,
# not the population mean); these records are ordinary sinus rhythm ECGs.
LUDB_RECORDS = (1, 5, 9, 12, 36)
BOUND_MS = {"PR": 20.0, "QRS": 20.0, "QT": 60.0}


@pytest.fixture(scope="module")
def ludb(ecg_data: Path) -> Path:
    if not (ecg_data / "ludb" / "data" / "1.hea").is_file():
        pytest.skip("LUDB records not present")
    pytest.importorskip("wfdb")
    return ecg_data


@pytest.mark.parametrize("record", LUDB_RECORDS)
def test_ludb_global_intervals_within_bounds(ludb: Path, record: int) -> None:
    from bench.ecg_eval_12lead import ludb_record, ludb_reference

    ref = ludb_reference(record, ludb)
    iv = analyze(ludb_record(record, ludb)).intervals
    assert ref.p_waves
    assert iv.pr_ms is not None  # a PR wherever there are P waves
    for name, ours, theirs in (
        ("PR", iv.pr_ms, ref.pr_ms),
        ("QRS", iv.qrs_ms, ref.qrs_ms),
        ("QT", iv.qt_ms, ref.qt_ms),
    ):
        assert ours is not None and theirs is not None
        assert abs(ours - theirs) <= BOUND_MS[name], f"{name}: {ours} vs {theirs}"


def test_ludb_af_has_no_pr(ludb: Path) -> None:
    from bench.ecg_eval_12lead import ludb_record

    result = analyze(ludb_record(8, ludb))  # atrial fibrillation
    assert result.intervals.pr_ms is None


def test_ludb_lbbb_in_af_with_rs_in_v5(ludb: Path) -> None:
    # LUDB 51: complete LBBB in AF, RS in V5/V6; its R peak time in V6 exceeds 60 ms only when
    # counted from the global QRS onset (AHA/ACCF/HRS 2009 part III), not the core onset
    from bench.ecg_eval_12lead import ludb_record

    codes = _codes(analyze(ludb_record(51, ludb)))
    assert "LBBB" in codes
    assert "IVCD" not in codes
