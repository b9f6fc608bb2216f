"""ECG paper rendering: SVG and PNG with grid, calibration, labels and caption."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

from ecg import STANDARD_LEADS, EcgRecord, render_png, render_svg
from ecg.render import HEIGHT_MM, WIDTH_MM, layout
from tests.ecg.synth import SynthSpec, synth

SVG = "{http://www.w3.org/2000/svg}"


def test_svg_layout() -> None:
    svg = render_svg(synth(SynthSpec()), title="Patient <X>")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for lead in STANDARD_LEADS:
        assert lead in texts
    assert texts.count("II") == 2  # the 3x4 cell and the rhythm strip
    assert any("25 mm/s" in (t or "") and "10 mm/mV" in (t or "") for t in texts)
    assert "Patient <X>" in texts
    polylines = list(root.iter(f"{SVG}polyline"))
    assert len(polylines) == 4 + 13  # four calibration pulses, 12 cells and one strip
    assert root.get("viewBox") == f"0 0 {WIDTH_MM} {HEIGHT_MM}"


def test_scale_is_25_mm_s_and_10_mm_mv() -> None:
    spec = SynthSpec(rate_bpm=60, noise_mv=0.0)
    traces = layout(synth(spec))
    strip = traces[-1]
    xs, ys = strip.points[:, 0], strip.points[:, 1]
    assert np.isclose(xs.max() - xs.min(), 250.0, atol=1.0)  # 10 s at 25 mm/s
    assert 8.0 < (ys.max() - ys.min()) < 16.0  # about 1.2 mV of QRS in lead II at 10 mm/mV


def test_png() -> None:
    data = render_png(synth(SynthSpec()), px_per_mm=4)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (int(WIDTH_MM * 4), int(HEIGHT_MM * 4))
    pixels = np.asarray(image.convert("L"))
    assert (pixels < 60).mean() > 0.002  # traces drawn in black


def test_two_lead_record_renders() -> None:
    rec = EcgRecord(np.zeros((2, 3000)), 360.0, ("II", "V5"))
    assert "V5" in render_svg(rec)
    assert render_png(rec, px_per_mm=2)[:8] == b"\x89PNG\r\n\x1a\n"
