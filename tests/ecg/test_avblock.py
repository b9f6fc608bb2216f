"""Second- and third-degree AV block episodes on synthetic ECGs, and none on sinus rhythm.

Mobitz I: 4:3 Wenckebach (PR 160, 250, 300 ms, then a non-conducted P wave); Mobitz II:
constant PR of 160 ms, every fourth P wave non-conducted; third degree: P waves at 75/min
and a regular 42/min escape rhythm independent of them (2018 ACC/AHA/HRS definitions).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ecg import EcgAnalysis, EcgRecord, analyze, read_wfdb_record
from ecg.avblock import conducted_share, regular_atrial_cycle
from tests.ecg.synth import SynthSpec, av_block_spec, synth

AV_KINDS = {"avb2_mobitz1", "avb2_mobitz2", "avb3"}
AV_CODES = {"AVB2_MOBITZ1", "AVB2_MOBITZ2", "AVB3"}
SEEDS = (1, 2, 3)


def _kinds(result: EcgAnalysis) -> set[str]:
    return {e.kind for e in result.episodes}


def _codes(result: EcgAnalysis) -> set[str]:
    return {s.code for s in result.statements}


def _critical(result: EcgAnalysis) -> set[str]:
    return {c.code for c in result.critical_findings}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("variant", [{}, {"noise_mv": 0.03}, {"pp_s": 0.9}], ids=str)
def test_mobitz1(seed: int, variant: dict[str, object]) -> None:
    result = analyze(synth(av_block_spec("mobitz1", seed=seed, **variant)))  # type: ignore[arg-type]
    assert _kinds(result) & AV_KINDS == {"avb2_mobitz1"}
    assert _codes(result) & AV_CODES == {"AVB2_MOBITZ1"}
    assert not _critical(result) & AV_CODES  # nodal block: not an emergency by itself


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("variant", [{}, {"noise_mv": 0.03}, {"pp_s": 0.9}], ids=str)
def test_mobitz2(seed: int, variant: dict[str, object]) -> None:
    result = analyze(synth(av_block_spec("mobitz2", seed=seed, **variant)))  # type: ignore[arg-type]
    assert _kinds(result) & AV_KINDS == {"avb2_mobitz2"}
    assert _codes(result) & AV_CODES == {"AVB2_MOBITZ2"}
    assert "AVB2_MOBITZ2" in _critical(result)
    assert [e.critical for e in result.episodes if e.kind == "avb2_mobitz2"] == [True]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("variant", [{}, {"noise_mv": 0.03}, {"pp_s": 0.7}], ids=str)
def test_third_degree(seed: int, variant: dict[str, object]) -> None:
    result = analyze(synth(av_block_spec("avb3", seed=seed, **variant)))  # type: ignore[arg-type]
    assert _kinds(result) & AV_KINDS == {"avb3"}
    assert _codes(result) & AV_CODES == {"AVB3"}
    assert "AVB3" in _critical(result)
    assert not {"SB", "SR"} & _codes(result)


SINUS_RR = {
    "pacs": (0.85, 0.85, 0.85, 0.55, 1.15, 0.85, 0.85, 0.85, 0.85, 0.55, 1.15, 0.85),
    "sinus_arrhythmia": tuple(0.95 + 0.15 * np.sin(np.arange(14) * 2 * np.pi / 5)),
    "slow_sinus_arrhythmia": tuple(1.2 + 0.2 * np.sin(np.arange(10) * 2 * np.pi / 6)),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "spec",
    [
        SynthSpec(rate_bpm=30, seconds=12),  # long T-Q: a long T wave must be subtracted whole
        SynthSpec(rate_bpm=35, seconds=12),
        SynthSpec(rate_bpm=45),
        SynthSpec(rate_bpm=60, noise_mv=0.04),
        SynthSpec(rate_bpm=75, pr_s=0.28),
        SynthSpec(rate_bpm=120),
        SynthSpec(rate_bpm=70, pvc_beats=(3, 7)),
        SynthSpec(rate_bpm=40, seconds=20, blocked_p=True),  # 2:1 block is typed elsewhere
        *(SynthSpec(rr_s=rr) for rr in SINUS_RR.values()),
    ],
    ids=["brady30", "brady35", "brady45", "noisy60", "avb1", "tachy120", "pvcs", "2to1", *SINUS_RR],
)
def test_no_av_block_on_sinus_rhythm(spec: SynthSpec, seed: int) -> None:
    result = analyze(synth(replace(spec, seed=seed)))
    assert not _kinds(result) & AV_KINDS
    assert not _codes(result) & AV_CODES


@pytest.mark.parametrize("name", ["mitdb/113", "mitdb/121", "mitdb/232", "svdb/800"])
def test_no_av_block_on_real_non_block_records(ecg_data: Path, name: str) -> None:
    """Sinus arrhythmia (113), rare ectopy (121), bradycardia with long pauses and blocked
    premature beats (232), supraventricular ectopy (800): 5 minutes each."""
    record = read_wfdb_record(ecg_data / name)
    n = int(300 * record.fs)
    result = analyze(EcgRecord(record.samples[:, :n], record.fs, record.leads))
    assert not _kinds(result) & AV_KINDS


def test_regular_atrial_cycle_allows_a_hidden_p_wave() -> None:
    p = np.array([0.0, 0.8, 1.6, 3.2, 4.0, 4.8, 5.6])  # the one at 2.4 s hid in a QRS
    assert regular_atrial_cycle(p, 5.6) == pytest.approx(0.8)
    assert regular_atrial_cycle(np.array([0.0, 0.3, 1.0, 1.2, 2.5, 2.7]), 2.7) is None


def test_conducted_share_finds_a_constant_pr() -> None:
    p = np.arange(8) * 0.8
    conducted = p + 0.18
    assert conducted_share(p, conducted) == 1.0
    dissociated = 0.5 + np.arange(5) * 1.43
    assert conducted_share(p, dissociated) < 0.5
