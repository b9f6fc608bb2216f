"""Pacemaker spikes and paced rhythm (`ecg.pacing`), modified Sgarbossa in paced rhythm."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ecg import EcgAnalysis, EcgRecord, analyze
from ecg.conduction import LeadQrs
from ecg.measure import StLevel
from ecg.pacing import find_spikes, pacing
from ecg.qrs import detect_qrs
from ecg.stemi import smith_sgarbossa
from tests.ecg.synth import SynthSpec, synth


def _with_spikes(record: EcgRecord, before_r_s: float, mv: float = 1.5) -> EcgRecord:
    """Add a one-sample pacing pulse (and its front-end recharge) before every R peak (the
    synthetic LBBB complex begins 130 ms before its R peak)."""
    x = record.samples.copy()
    beats = detect_qrs(x, record.fs)
    lead_gain = np.linspace(0.4, 1.0, x.shape[0])[:, None]  # seen in every lead, sizes differ
    for b in beats:
        i = int(b - before_r_s * record.fs)
        if i > 0:
            x[:, i : i + 1] += mv * lead_gain
            x[:, i + 1 : i + 2] += 0.1 * mv * lead_gain
    return dataclasses.replace(record, samples=x)


def _codes(result: EcgAnalysis) -> set[str]:
    return {s.code for s in result.statements}


def test_no_spikes_in_a_normal_ecg_or_bundle_branch_block() -> None:
    for spec in (SynthSpec(), SynthSpec(qrs_pattern="lbbb"), SynthSpec(qrs_pattern="rbbb")):
        rec = synth(spec)
        assert find_spikes(rec.samples, rec.fs) == []
        assert "PACED" not in _codes(analyze(rec))


def test_ventricular_pacing_named_and_not_read_as_bundle_branch_block() -> None:
    rec = _with_spikes(synth(SynthSpec(qrs_pattern="lbbb", rate_bpm=70)), before_r_s=0.14)
    result = analyze(rec)
    codes = _codes(result)
    assert "PACED" in codes
    paced = next(s for s in result.statements if s.code == "PACED")
    assert paced.values["mode"] == "V"
    assert not codes & {"LBBB", "RBBB", "IVCD", "LVH", "OLDMI", "AVB1", "STEMI"}


def test_atrial_pacing_keeps_the_qrs_reading() -> None:
    rec = _with_spikes(synth(SynthSpec(qrs_pattern="lbbb", pr_s=0.2)), before_r_s=0.33)
    result = analyze(rec)
    paced = next(s for s in result.statements if s.code == "PACED")
    assert paced.values["mode"] == "A"
    assert "LBBB" in _codes(result)


def test_spikes_not_looked_for_below_500_hz() -> None:
    rec = synth(SynthSpec(fs=250.0))
    result = pacing(rec.samples, rec.fs, detect_qrs(rec.samples, rec.fs))
    assert not result.resolvable and result.mode is None


def _lead(net: float, s: float) -> LeadQrs:
    r = max(net + s, 0.0)
    return LeadQrs(r, s, 0.0, 0.0, 60.0, 0.0, False, False, 0.5)


def test_smith_modified_sgarbossa() -> None:
    # Smith 2012: discordant STE with ST/S <= -0.25 is positive; a proportionate one is not
    morph = {"V1": _lead(-1.6, 2.0), "V2": _lead(-2.0, 2.4), "V5": _lead(1.2, 0.1)}
    proportionate = (StLevel("V1", 0.3, 0.3), StLevel("V2", 0.4, 0.4))
    assert smith_sgarbossa(proportionate, morph) == []
    excessive = (StLevel("V1", 0.3, 0.3), StLevel("V2", 0.7, 0.7))  # 0.7 / -2.4 = -0.29
    assert smith_sgarbossa(excessive, morph) == ["excessive_discordant_ste"]
    assert smith_sgarbossa((StLevel("V5", 0.1, 0.1),), morph) == ["concordant_ste"]
    assert smith_sgarbossa((StLevel("V2", -0.1, -0.1),), morph) == ["concordant_std"]


@pytest.fixture(scope="module")
def ludb(ecg_data: Path) -> Path:
    if not (ecg_data / "ludb" / "data" / "34.hea").is_file():
        pytest.skip("LUDB records not present")
    return ecg_data


@pytest.mark.parametrize("record", [34, 72])  # unipolar V pacing; atrial-synchronous V pacing
def test_ludb_paced_records(ludb: Path, record: int) -> None:
    from bench.ecg_eval_12lead import ludb_record

    codes = _codes(analyze(ludb_record(record, ludb)))
    assert "PACED" in codes
    assert not codes & {"LBBB", "RBBB", "IVCD", "STEMI"}


def test_ludb_unpaced_record_has_no_spikes(ludb: Path) -> None:
    from bench.ecg_eval_12lead import ludb_record

    rec = ludb_record(1, ludb)
    assert find_spikes(rec.samples, rec.fs) == []
