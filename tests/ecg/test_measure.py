"""12-lead measurements against the recording devices' own values, and the formulas."""

from __future__ import annotations

import math

import pytest

from ecg import analyze, read_ecg
from ecg.beats import classify_beats
from ecg.dsp import clean
from ecg.measure import frontal_axis, measure, qtc
from ecg.qrs import detect_qrs

# The devices measure QRS and QT the conventional way (the span the complex visibly moves; the
# T end by the tangent in a typical lead); our IEC global intervals (earliest onset to latest
# offset over 12 leads, matched to LUDB's cardiologists) read wider, so the devices' values are
# compared with our conventional measures. PR starts at the earliest P onset of any lead.
QRS_TOLERANCE_MS = 10
PR_TOLERANCE_MS = 20
QT_TOLERANCE_MS = 20


def _check_against_machine(data: bytes, name: str) -> None:
    record = read_ecg(data, name)
    result = analyze(record)
    machine = record.machine
    assert machine is not None
    fs = record.fs
    cleaned = clean(record.samples, fs)
    beats = detect_qrs(record.samples, fs)
    m = measure(cleaned, fs, record.leads, beats, classify_beats(cleaned, fs, beats))
    iv = result.intervals
    assert iv.pr_ms is not None
    assert iv.qrs_ms is not None
    assert iv.qt_ms is not None
    assert m.qrs_core_ms is not None
    assert m.qt_typical_ms is not None
    assert abs(iv.pr_ms - machine.pr_ms) <= PR_TOLERANCE_MS  # type: ignore[operator]
    assert abs(m.qrs_core_ms - machine.qrs_ms) <= QRS_TOLERANCE_MS  # type: ignore[operator]
    assert abs(m.qt_typical_ms - machine.qt_ms) <= QT_TOLERANCE_MS  # type: ignore[operator]
    assert iv.qrs_ms >= m.qrs_core_ms  # the global interval holds the conventional one
    assert iv.qt_ms >= m.qt_typical_ms
    for ours, theirs in ((result.axes.p, machine.p_axis), (result.axes.qrs, machine.qrs_axis),
                         (result.axes.t, machine.t_axis)):  # fmt: skip
        assert ours is not None
        assert theirs is not None
        assert abs((ours - theirs + 180) % 360 - 180) <= 20
    assert any(s.code == "SR" for s in result.statements)
    assert not result.critical


def test_aecg_against_machine(aecg_bytes: bytes) -> None:
    _check_against_machine(aecg_bytes, "ecg_hl7.xml")


def test_scp_against_machine(scp_bytes: bytes) -> None:
    _check_against_machine(scp_bytes, "Example.scp")


def test_dicom_against_machine(dicom_bytes: bytes) -> None:
    _check_against_machine(dicom_bytes, "waveform_ecg.dcm")
    result = analyze(read_ecg(dicom_bytes, "waveform_ecg.dcm"))
    assert result.intervals.rr_ms is not None
    assert abs(result.intervals.rr_ms - 982) <= 10


def test_qtc_formulas() -> None:
    bazett, fridericia, framingham, hodges = qtc(400.0, 1000.0)
    assert (bazett, fridericia, framingham, hodges) == pytest.approx((400, 400, 400, 400))
    bazett, fridericia, framingham, hodges = qtc(360.0, 640.0)  # 93.75 bpm
    assert bazett == pytest.approx(360 / 0.8)
    assert fridericia == pytest.approx(360 / 0.64 ** (1 / 3))
    assert framingham == pytest.approx(360 + 154 * 0.36)
    assert hodges == pytest.approx(360 + 1.75 * 33.75)


def test_frontal_axis() -> None:
    assert frontal_axis(1.0, 0.0) == pytest.approx(0.0)
    assert frontal_axis(0.0, 1.0) == pytest.approx(90.0)
    # a vector at 60 degrees: I = cos 60, aVF = sin 60 * sqrt(3)/2
    assert frontal_axis(0.5, math.sin(math.radians(60)) * math.sqrt(3) / 2) == pytest.approx(60)
    assert frontal_axis(0.0, 0.0) is None
