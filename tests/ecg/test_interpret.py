"""Statements and critical findings on synthetic ECGs with known truth."""

from __future__ import annotations

import pytest

from ecg import CriticalThresholds, EcgAnalysis, Statement, analyze
from ecg.measure import StLevel
from ecg.stemi import stemi_leads, threshold_mm
from tests.ecg.synth import SynthSpec, af_spec, synth


def _run(spec: SynthSpec, **kwargs: object) -> EcgAnalysis:
    return analyze(synth(spec), age=spec.age, sex=spec.sex, **kwargs)  # type: ignore[arg-type]


def _codes(result: EcgAnalysis) -> set[str]:
    return {s.code for s in result.statements}


def _critical(result: EcgAnalysis) -> set[str]:
    return {f.code for f in result.critical_findings}


def test_normal_sinus_rhythm() -> None:
    result = _run(SynthSpec(rate_bpm=72))
    assert "SR" in _codes(result)
    assert not result.critical
    assert not result.critical_findings
    assert result.heart_rate_bpm == pytest.approx(72, abs=1)
    assert set(result.beat_labels) == {"N"}
    assert _codes(result) <= {"SR"}


@pytest.mark.parametrize(("rate", "code", "critical"), [
    (50, "SB", set()), (35, "SB", {"HR_LOW"}), (115, "STACH", set()), (165, None, {"HR_HIGH"}),
])  # fmt: skip
def test_rates(rate: float, code: str | None, critical: set[str]) -> None:
    result = _run(SynthSpec(rate_bpm=rate, seconds=12))
    if code:
        assert code in _codes(result)
    assert _critical(result) == critical
    assert result.critical == bool(critical)


def test_atrial_fibrillation() -> None:
    result = _run(af_spec(rate_bpm=85))
    assert "AF" in _codes(result)
    assert not {"SR", "SVPB"} & _codes(result)
    assert not result.critical


def test_af_with_rapid_ventricular_response() -> None:
    result = _run(af_spec(rate_bpm=135))
    assert "AF" in _codes(result)
    assert "AF_RVR" in _critical(result)


def test_pause() -> None:
    result = _run(SynthSpec(rr_s=(0.85, 0.85, 0.85, 3.4, 0.85, 0.85, 0.85), seconds=10))
    assert "PAUSE" in _codes(result)
    assert "LONG_PAUSE" in _critical(result)
    short = _run(SynthSpec(rr_s=(0.85, 0.85, 0.85, 2.4, 0.85, 0.85, 0.85, 0.85), seconds=10))
    assert "PAUSE" in _codes(short)
    assert not short.critical


def test_pvc_and_ventricular_tachycardia() -> None:
    single = _run(SynthSpec(rate_bpm=75, pvc_beats=(4,)))
    assert "PVC" in _codes(single)
    assert not single.critical
    assert single.beat_labels[4] == "V"
    run = _run(SynthSpec(rate_bpm=110, pvc_beats=(4, 5, 6, 7)))
    assert "VT" in _codes(run)
    assert "VT" in _critical(run)


def test_anterior_stemi() -> None:
    spec = SynthSpec(st_chest={"V2": 0.3, "V3": 0.35, "V4": 0.25}, sex="M", age=60)
    result = _run(spec)
    stemi = [s for s in result.statements if s.code == "STEMI"]
    assert stemi
    assert set(stemi[0].values["leads"]) >= {"V2", "V3", "V4"}
    assert "STEMI" in _critical(result)
    assert result.critical
    st = {s.lead: s.j_mv for s in result.st}
    assert st["V3"] > 0.25
    assert abs(st["V6"]) < 0.05


def test_inferior_stemi() -> None:
    result = _run(SynthSpec(st_frontal=(0.25, 90)))
    stemi = [s for s in result.statements if s.code == "STEMI"]
    assert stemi
    assert set(stemi[0].values["leads"]) >= {"II", "III", "aVF"}
    assert result.critical


def test_stemi_thresholds_by_sex_and_age() -> None:
    assert threshold_mm("V2", 50, "M") == 2.0
    assert threshold_mm("V3", 30, "M") == 2.5
    assert threshold_mm("V2", 70, "F") == 1.5
    assert threshold_mm("V5", 30, "M") == 1.0
    st = (StLevel("V2", 0.22, 0.2), StLevel("V3", 0.22, 0.2), StLevel("V4", 0.05, 0.05))
    assert stemi_leads(st, 50, "M") == ["V2", "V3"]
    assert stemi_leads(st, 30, "M") == []  # 2.2 mm is below 2.5 mm for a young man
    lone = (StLevel("V5", 0.3, 0.3), StLevel("V6", 0.02, 0.0))
    assert stemi_leads(lone, 50, "M") == []  # one lead is not two contiguous leads


def test_young_man_borderline_v2_v3_is_not_stemi() -> None:
    # V2-V3 elevation with reciprocal inferior depression (ST vector pointing up)
    st = {"st_chest": {"V2": 0.21, "V3": 0.21}, "st_frontal": (0.08, -90.0)}
    spec = SynthSpec(**st, sex="M", age=30)  # type: ignore[arg-type]
    assert "STEMI" not in _codes(_run(spec))
    woman = SynthSpec(**st, sex="F", age=30)  # type: ignore[arg-type]
    assert "STEMI" in _codes(_run(woman))


def test_flat_recording_cannot_be_judged() -> None:
    import numpy as np

    from ecg import STANDARD_LEADS, EcgRecord

    rec = EcgRecord(np.zeros((12, 5000)), 500.0, STANDARD_LEADS)
    result = analyze(rec)
    assert _codes(result) == {"UNREADABLE"}
    assert not result.critical


def test_thresholds_validate_and_apply() -> None:
    with pytest.raises(ValueError, match="brady_bpm"):
        CriticalThresholds(brady_bpm=160, tachy_bpm=150)
    with pytest.raises(ValueError, match="pause_s"):
        CriticalThresholds(pause_s=0.1)
    result = _run(SynthSpec(rate_bpm=50), thresholds=CriticalThresholds(brady_bpm=55))
    assert "HR_LOW" in _critical(result)


def test_statement_texts() -> None:
    s = Statement("AF", {"heart_rate_bpm": 90})
    assert s.en == "Atrial fibrillation"
    assert s.zh == "心房颤动"
    with pytest.raises(ValueError, match="unknown statement"):
        Statement("NOPE")


def test_supraventricular_premature_beat() -> None:
    rr = (0.85, 0.85, 0.85, 0.55, 1.15, 0.85, 0.85, 0.85, 0.85, 0.85)
    result = _run(SynthSpec(rr_s=rr))
    assert result.beat_labels[4] == "S"
    assert result.beat_labels.count("S") == 1
    assert "SVPB" in _codes(result)
    assert "SR" in _codes(result)
