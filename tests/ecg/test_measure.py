"""12-lead measurements against the recording devices' own values, and the formulas."""

from __future__ import annotations

import math

import pytest

from ecg import analyze, read_ecg
from ecg.measure import frontal_axis, qtc

PR_QRS_TOLERANCE_MS = 10
QT_TOLERANCE_MS = 20


def _check_against_machine(data: bytes, name: str) -> None:
    record = read_ecg(data, name)
    result = analyze(record)
    machine = record.machine
    assert machine is not None
    iv = result.intervals
    assert iv.pr_ms is not None
    assert iv.qrs_ms is not None
    assert iv.qt_ms is not None
    assert abs(iv.pr_ms - machine.pr_ms) <= PR_QRS_TOLERANCE_MS  # type: ignore[operator]
    assert abs(iv.qrs_ms - machine.qrs_ms) <= PR_QRS_TOLERANCE_MS  # type: ignore[operator]
    assert abs(iv.qt_ms - machine.qt_ms) <= QT_TOLERANCE_MS  # type: ignore[operator]
    assert abs(iv.qtc_bazett_ms - machine.qtc_ms) <= QT_TOLERANCE_MS  # type: ignore[operator]
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
