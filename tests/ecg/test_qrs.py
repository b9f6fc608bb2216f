"""QRS detection on annotated records and synthetic ECGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecg import QrsConfig, detect_qrs, read_wfdb_record
from tests.ecg.synth import SynthSpec, af_spec, beat_times, synth

BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")


def _score(ref: np.ndarray, test: np.ndarray, window: int) -> tuple[float, float]:
    import wfdb.processing

    cmp = wfdb.processing.compare_annotations(ref, test, window)
    return cmp.sensitivity, cmp.positive_predictivity


@pytest.mark.parametrize("record", ["misc/100s", "mitdb/100", "svdb/800"])
def test_against_reference_annotations(ecg_data: Path, record: str) -> None:
    import wfdb

    rec = read_wfdb_record(ecg_data / record)
    ann = wfdb.rdann(str(ecg_data / record), "atr")
    ref = np.array(
        [s for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym in BEAT_SYMBOLS]
    )
    beats = detect_qrs(rec.samples, rec.fs)
    se, pp = _score(ref, beats, int(0.15 * rec.fs))
    assert se >= 0.995
    assert pp >= 0.995


@pytest.mark.parametrize(
    "spec",
    [SynthSpec(rate_bpm=40), SynthSpec(rate_bpm=75, noise_mv=0.05), SynthSpec(rate_bpm=180),
     SynthSpec(fs=250, wander_mv=0.8, mains_mv=0.3), af_spec(), SynthSpec(pvc_beats=(3, 6))],
)  # fmt: skip
def test_synthetic(spec: SynthSpec) -> None:
    rec = synth(spec)
    truth = np.round(beat_times(spec) * spec.fs).astype(int)
    beats = detect_qrs(rec.samples, rec.fs)
    se, pp = _score(truth, beats, int(0.05 * spec.fs))
    assert se == 1.0
    assert pp == 1.0


def test_single_lead_and_flat() -> None:
    rec = synth(SynthSpec())
    assert len(detect_qrs(rec.samples[1], rec.fs)) == len(beat_times(SynthSpec()))
    assert detect_qrs(np.zeros((2, 5000)), 500.0).size == 0
    assert detect_qrs(np.zeros(100), 500.0).size == 0


def test_config_validates() -> None:
    with pytest.raises(ValueError, match="band"):
        QrsConfig(band=(20.0, 5.0))
    with pytest.raises(ValueError, match="refractory_s"):
        QrsConfig(refractory_s=0.0)


def test_beat_labels_against_reference(ecg_data: Path) -> None:
    import wfdb

    from ecg import analyze

    rec = read_wfdb_record(ecg_data / "mitdb" / "100")
    result = analyze(rec)
    ann = wfdb.rdann(str(ecg_data / "mitdb" / "100"), "atr")
    ours = np.asarray(result.beats)
    hits = {"N": [0, 0], "A": [0, 0]}  # [matched, labelled as expected]
    expected = {"N": "N", "A": "S"}
    for sample, symbol in zip(ann.sample, ann.symbol, strict=True):
        if symbol in hits:
            k = int(np.argmin(np.abs(ours - sample)))
            hits[symbol][0] += 1
            hits[symbol][1] += result.beat_labels[k] == expected[symbol]
    assert hits["N"][1] >= 0.99 * hits["N"][0]
    assert hits["A"][1] >= 0.8 * hits["A"][0]
