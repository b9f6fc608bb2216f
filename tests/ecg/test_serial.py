"""Serial comparison on two shared LUDB records treated as one patient's prior and current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ecg.analysis import analyze
from ecg.serial import (
    AXIS_SHIFT_DEG,
    QRS_WIDENING_MS,
    QTC_CHANGE_MS,
    axis_difference,
    compare,
)


@pytest.fixture(scope="module")
def pair(ecg_data: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from bench.ecg_eval_12lead import ludb_record

    if not (ecg_data / "ludb" / "data" / "1.hea").is_file():
        pytest.skip("LUDB not present")
    prior = analyze(ludb_record(1, ecg_data)).to_dict()  # sinus rhythm
    current = analyze(ludb_record(38, ecg_data)).to_dict()  # atrial fibrillation
    return prior, current


def test_differences_are_those_of_the_two_analyses(pair: tuple[dict, dict]) -> None:
    prior, current = pair
    result = compare(prior, current)
    by_name = {c.name: c for c in result.changes}
    expected = {
        "heart_rate_bpm": current["heart_rate_bpm"] - prior["heart_rate_bpm"],
        "qrs_ms": current["intervals"]["qrs_ms"] - prior["intervals"]["qrs_ms"],
        "qt_ms": current["intervals"]["qt_ms"] - prior["intervals"]["qt_ms"],
        "qtc_ms": current["intervals"]["qtc_fridericia_ms"]
        - prior["intervals"]["qtc_fridericia_ms"],
    }
    for name, delta in expected.items():
        assert by_name[name].delta == pytest.approx(delta), name
    assert by_name["pr_ms"].delta is None  # AF: no PR on the current tracing
    axis = by_name["qrs_axis_deg"]
    assert axis.delta == pytest.approx(
        axis_difference(prior["axes"]["qrs"], current["axes"]["qrs"])
    )
    # the flags follow the thresholds
    assert (by_name["qrs_ms"].flag == "QRS_WIDENED") == (expected["qrs_ms"] >= QRS_WIDENING_MS)
    assert (by_name["qtc_ms"].flag == "QTC_CHANGE") == (abs(expected["qtc_ms"]) >= QTC_CHANGE_MS)
    assert (axis.flag == "AXIS_SHIFT") == (abs(axis.delta or 0) >= AXIS_SHIFT_DEG)
    st_prior = {s["lead"]: s["j_mv"] for s in prior["st"]}
    for s in result.st:
        assert s.delta_mv == pytest.approx(s.current_mv - st_prior[s.lead])
        assert (s.flag == "ST_ELEVATION_NEW") == (s.delta_mv >= 0.1 - 1e-9)
    # the rhythm statement: new AF, sinus rhythm resolved
    new = {s.code for s in result.statements if s.new}
    assert "AF" in new and "NEW_AF" in result.flags
    assert prior["statements"][0]["code"] in {s.code for s in result.statements if not s.new}
    flags: list[dict[str, Any]] = result.to_dict()["flags"]  # type: ignore[assignment]
    assert any(f["zh"].startswith("新出现") for f in flags)


def test_same_ecg_has_no_change(pair: tuple[dict, dict]) -> None:
    result = compare(pair[0], pair[0])
    assert not result.flags and not result.statements
    assert all(c.delta in (0, None) for c in result.changes)


def test_thresholds_on_edges() -> None:
    def a(qrs: float, qtc: float, axis: float, st: float, codes: list[str]) -> dict[str, Any]:
        return {
            "heart_rate_bpm": 70,
            "intervals": {"pr_ms": 160, "qrs_ms": qrs, "qt_ms": 400, "qtc_fridericia_ms": qtc},
            "axes": {"qrs": axis},
            "st": [{"lead": lead, "j_mv": st} for lead in ("V2", "V3")],
            "statements": [{"code": c} for c in codes],
        }

    prior = a(90, 420, 170, 0.0, ["SR"])
    flags = compare(prior, a(110, 480, -145, 0.1, ["SR", "STEMI"])).flags
    assert set(flags) == {
        "QRS_WIDENED",
        "QTC_CHANGE",
        "AXIS_SHIFT",
        "ST_ELEVATION_NEW",
        "NEW_STEMI",
    }
    assert compare(prior, a(109, 479, -146, 0.09, ["SR"])).flags == ()  # axis 170 -> -146: 44°
    assert axis_difference(170, -145) == 45
    # hostile stored values: strings, NaN, missing parts give no delta, never an error
    junk: dict[str, Any] = {
        "intervals": {"qrs_ms": "wide", "qt_ms": float("nan")},
        "axes": None,
        "st": [{}],
    }
    assert all(c.delta is None for c in compare(junk, prior).changes)
