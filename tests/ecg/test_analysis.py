"""The analysis entry point: JSON-safe output, picklable, runs in a process pool, pure."""

from __future__ import annotations

import json
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecg import EcgAnalysis, analyze, read_ecg, read_wfdb_record
from tests.ecg.synth import SynthSpec, synth

KEYS = {"fs", "beats", "beat_labels", "heart_rate_bpm", "hrv", "intervals", "axes", "st",
        "quality", "statements", "critical", "critical_reasons", "critical_findings"}  # fmt: skip


def test_to_dict_is_json_safe(aecg_bytes: bytes) -> None:
    result = analyze(read_ecg(aecg_bytes, "ecg_hl7.xml"))
    d = result.to_dict()
    assert set(d) >= KEYS
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["fs"] == 500.0
    assert len(back["beats"]) == len(back["beat_labels"]) == 12
    assert back["machine"]["pr_ms"] == 148
    assert {s["lead"] for s in back["st"]} == set(result.leads)
    assert all({"code", "en", "zh", "values"} <= set(s) for s in back["statements"])


def test_beats_are_in_the_records_own_sampling(ecg_data: Path) -> None:
    rec = read_wfdb_record(ecg_data / "misc" / "100s")
    d = analyze(rec).to_dict()
    assert d["fs"] == 360.0
    assert d["beats"][0] == pytest.approx(77, abs=10)  # first annotated beat at sample 77
    assert d["hrv"]["sdnn_ms"] is not None
    assert d["hrv"]["rmssd_ms"] is not None


def test_pickle_and_process_pool() -> None:
    record = synth(SynthSpec())
    result = analyze(record)
    assert isinstance(pickle.loads(pickle.dumps(result)), EcgAnalysis)
    with ProcessPoolExecutor(max_workers=1) as pool:
        remote = pool.submit(analyze, record, age=50, sex="M").result(timeout=120)
    assert remote.to_dict()["beats"] == result.to_dict()["beats"]
    assert remote.sex == "M"
    assert remote.age == 50


def test_patient_from_the_file_unless_given(dicom_bytes: bytes) -> None:
    record = read_ecg(dicom_bytes, "waveform_ecg.dcm")
    assert (analyze(record).sex, analyze(record).age) == ("F", 42)
    assert analyze(record, sex="M", age=30).sex == "M"
    with pytest.raises(ValueError, match="sex"):
        analyze(record, sex="X")


def test_same_input_same_output() -> None:
    record = synth(SynthSpec(noise_mv=0.03))
    assert analyze(record).to_dict() == analyze(record).to_dict()


@settings(max_examples=25, deadline=None)
@given(
    fs=st.sampled_from([50.0, 128.0, 250.0, 360.0, 500.0, 1000.0]),
    seconds=st.floats(min_value=0.1, max_value=12.0),
    n_leads=st.sampled_from([1, 2, 8, 12]),
    scale=st.sampled_from([0.0, 0.01, 0.5, 3.0]),
    seed=st.integers(0, 1000),
)
def test_any_plausible_record_analyses(
    fs: float, seconds: float, n_leads: int, scale: float, seed: int
) -> None:
    from ecg import STANDARD_LEADS, EcgRecord

    rng = np.random.default_rng(seed)
    samples = rng.normal(0.0, scale, (n_leads, max(int(fs * seconds), 1)))
    record = EcgRecord(samples, fs, STANDARD_LEADS[:n_leads])
    json.dumps(analyze(record).to_dict(), allow_nan=False)
