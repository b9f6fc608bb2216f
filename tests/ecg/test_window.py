"""The reader's tracings, the overview and the seen-before-signing rule (pure parts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecg import window as w
from ecg.overview import overview
from ecg.reading import OVERVIEW, WHOLE, WINDOW, Seen, unseen
from ecg.record import EcgRecord
from ecg.store import EcgRecording
from tests.ecg.synth import SynthSpec, synth
from tests.ecg_center.files import wfdb_zip


def test_tracing_roundtrip_and_a_coarser_unit_for_big_signals(tmp_path: Path) -> None:
    record = synth(SynthSpec(rate_bpm=60, seconds=4.0, fs=1000.0, seed=2))
    data = wfdb_zip(record, "k")
    tracing = w.build(tmp_path, "abc", data, "k.zip", None)
    assert tracing.fs == 500.0 and tracing.scale_uv == 1 and tracing.n_samples == 2000
    assert w.stored(tmp_path, "abc") == tracing
    start, count = w.window_range(tracing, 1.0, 2.0, ("V3",))
    win = w.read_window(tmp_path, "abc", tracing, ("V3",), start, count)
    want = np.asarray(record.samples)[record.leads.index("V3"), ::2][500:1500] * 1000
    assert np.abs(win.values[0] - want).max() <= 0.51 and len(win.body()) == 2000

    big = EcgRecord(np.vstack([np.linspace(-45.0, 45.0, 1000)]), 250.0, ("II",))
    tracing, values = w.tracing_of(big)
    assert tracing.scale_uv == 2 and values.dtype == np.dtype("<i2")
    assert np.abs(values[0].astype(float) * 2 / 1000 - big.samples[0]).max() <= 0.0011


def test_window_requests_out_of_bounds_are_refused() -> None:
    tracing = w.Tracing(fs=500.0, leads=("I", "II"), scale_uv=1, n_samples=5000)
    assert w.window_range(tracing, 9.5, 10.0, ("I",)) == (4750, 250)
    for start, duration, field in [
        (-1.0, 1.0, "start"),
        (10.0, 1.0, "start"),
        (float("nan"), 1.0, "start"),
        (0.0, 0.0, "duration"),
        (0.0, 121.0, "duration"),
    ]:
        with pytest.raises(w.WindowError) as err:
            w.window_range(tracing, start, duration, ("I",))
        assert err.value.field == field
    huge = w.Tracing(fs=500.0, leads=tuple(f"L{i}" for i in range(15)), scale_uv=1, n_samples=10**6)
    with pytest.raises(w.WindowError):
        w.window_range(huge, 0.0, 60.0, huge.leads)
    assert w.choose_leads(tracing, "II, I") == ("II", "I")
    for bad in ("III", "I,I", ","):
        with pytest.raises(w.WindowError):
            w.choose_leads(tracing, bad)


def test_overview_trend_ectopy_episodes_and_burden() -> None:
    fs = 250.0
    beats = [int(i * fs) for i in range(600)]  # one a second for ten minutes: 60/min
    labels = ["N"] * 600
    labels[100] = "V"
    labels[101] = "S"
    analysis = {"fs": fs, "beats": beats, "beat_labels": labels}
    out = overview(analysis, 600.0)
    assert out["long"] and out["bin_s"] == 10 and len(out["hr"]) == 60
    assert all(v == 60.0 for v in out["hr"]) and out["longest_rr_s"] == 1.0
    assert (
        out["ventricular"][10] == 1
        and out["supraventricular"][10] == 1
        and sum(out["ventricular"]) == 1
    )
    assert out["episodes"] == [] and out["af_burden_percent"] is None and out["must_view"] == []

    episodes = [
        {"kind": "vt", "start_s": 100.0, "end_s": 104.0, "critical": True},
        {"kind": "vt", "start_s": 103.0, "end_s": 110.0, "critical": True},
        {"kind": "af", "start_s": 300.0, "end_s": 450.0, "critical": False},
        {"kind": "pause", "start_s": "x", "end_s": 2},  # malformed: dropped
    ]
    out = overview({**analysis, "episodes": episodes}, 600.0)
    assert [e["kind"] for e in out["episodes"]] == ["vt", "vt", "af"]
    assert out["af_burden_percent"] == 25.0 and out["must_view"] == [[100.0, 110.0]]
    given = overview({**analysis, "episodes": [], "af_burden_percent": 12.34}, 600.0)
    assert given["af_burden_percent"] == 12.3 and given["episodes_known"]
    assert overview({}, 30.0)["hr"] == [None, None, None]


def _recording(duration_s: float, episodes: list[dict] | None = None) -> EcgRecording:
    analysis = {} if episodes is None else {"episodes": episodes}
    return EcgRecording(id=1, duration_s=duration_s, analysis=analysis)


def test_what_must_be_seen_before_signing() -> None:
    short = _recording(10.0)
    assert unseen(short, []) == ["tracing"]
    assert unseen(short, [Seen(WINDOW, 0.0, 5.0)]) == ["tracing"]
    assert unseen(short, [Seen(WINDOW, 0.0, 10.0)]) == []
    assert unseen(short, [Seen(WHOLE, 0.0, 10.0)]) == []
    vt = {"kind": "vt", "start_s": 1500.0, "end_s": 1504.0, "critical": True}
    couplet = {"kind": "couplet", "start_s": 200.0, "end_s": 201.0, "critical": False}
    long = _recording(1800.0, [vt, couplet])
    assert unseen(long, []) == ["overview", "strips", "episode@1500.0"]
    first = [Seen(OVERVIEW, 0, 0), Seen(WINDOW, 0.0, 60.0)]
    assert unseen(long, first) == ["episode@1500.0"]
    assert unseen(long, [*first, Seen(WINDOW, 1440.0, 1500.0)]) == ["episode@1500.0"]  # just before
    assert unseen(long, [*first, Seen(WINDOW, 1480.0, 1540.0)]) == []
    assert unseen(_recording(1800.0), first) == []


def test_the_cache_keeps_its_bound_and_the_latest_tracing(tmp_path: Path) -> None:
    a = wfdb_zip(synth(SynthSpec(seconds=4.0, seed=1)), "a")
    b = wfdb_zip(synth(SynthSpec(seconds=4.0, seed=2)), "b")
    w.build(tmp_path, "first", a, "a.zip", None)
    w.build(tmp_path, "second", b, "b.zip", None, max_bytes=1000)
    assert w.stored(tmp_path, "first") is None and w.stored(tmp_path, "second") is not None
    w.build(tmp_path, "first", a, "a.zip", None)
    assert w.trim(tmp_path, "first", 10**9) == 0
    assert {p.name for p in tmp_path.iterdir()} == {
        "first.npy",
        "first.json",
        "second.npy",
        "second.json",
    }
