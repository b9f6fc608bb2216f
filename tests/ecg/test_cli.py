"""``ecg analyze`` / ``ecg render`` through argparse, as web/cli.py will wire them."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from web.cli_ecg import add_ecg_commands, main


def _run(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="telecenter")
    add_ecg_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    return args.func(args, out), out.getvalue()


def test_analyze_json_on_a_wfdb_record_path(ecg_data: Path) -> None:
    code, text = _run(["ecg", "analyze", str(ecg_data / "misc" / "100s"), "--json"])
    assert code == 0
    d = json.loads(text)
    assert d["fs"] == 360.0
    assert len(d["beats"]) > 60
    assert {"intervals", "statements", "axes"} <= set(d)


def test_analyze_text_on_a_file(scp_bytes: bytes, ecg_data: Path) -> None:
    code, text = _run(["ecg", "analyze", str(ecg_data / "scp" / "Example.scp"), "--age", "49",
                       "--sex", "M"])  # fmt: skip
    assert code == 0
    assert "Sinus rhythm" in text
    assert "窦性心律" in text
    assert "qrs" in text


def test_analyze_csv_with_profile(tmp_path: Path) -> None:
    import numpy as np

    from tests.ecg.synth import SynthSpec, synth

    rec = synth(SynthSpec(fs=250))
    path = tmp_path / "export.csv"
    rows = (rec.samples[:2].T * 1000).round().astype(int)
    path.write_text("\n".join(f"{a},{b}" for a, b in rows))
    code, text = _run(["ecg", "analyze", str(path), "--fs", "250", "--gain", "1000",
                       "--leads", "I,II", "--json"])  # fmt: skip
    assert code == 0
    assert json.loads(text)["heart_rate_bpm"] == pytest.approx(70, abs=1)
    assert np.isfinite(json.loads(text)["fs"])


def test_bad_file_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.scp"
    bad.write_bytes(b"garbage")
    assert main(["ecg", "analyze", str(bad)]) == 2
    assert "SCP-ECG" in capsys.readouterr().err


def test_render(tmp_path: Path, ecg_data: Path) -> None:
    out = tmp_path / "ecg.svg"
    code, _ = _run(["ecg", "render", str(ecg_data / "aecg" / "ecg_hl7.xml"), "--out", str(out)])
    assert code == 0
    assert out.read_text().startswith("<svg")
