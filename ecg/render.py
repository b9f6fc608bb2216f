"""ECG paper: 25 mm/s, 10 mm/mV, 1 mm / 5 mm grid; 3x4 leads plus a lead II rhythm strip.

`render_svg` returns an SVG document (millimetre coordinates), `render_png` PNG bytes drawn
with Pillow. Both draw a 1 mV calibration pulse at the start of each row and a caption with
speed and gain.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from ecg.dsp import remove_baseline
from ecg.record import EcgRecord

FloatArray = npt.NDArray[np.float64]

SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0
MARGIN_MM = 10.0
CAL_MM = 10.0  # room for the calibration pulse
ROW_MM = 40.0
TOP_MM = 14.0
STRIP_S = 10.0
COLUMN_S = 2.5
WIDTH_MM = MARGIN_MM + CAL_MM + STRIP_S * SPEED_MM_S + MARGIN_MM
HEIGHT_MM = TOP_MM + 4 * ROW_MM + 10.0
GRID_X0 = MARGIN_MM
GRID_Y0 = TOP_MM
GRID_W = CAL_MM + STRIP_S * SPEED_MM_S
GRID_H = 4 * ROW_MM
LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
MAX_MV = 3.5


@dataclass(frozen=True)
class Trace:
    """One drawn segment: its label, label position and polyline, all in mm."""

    label: str
    label_xy: tuple[float, float]
    points: FloatArray  # (k, 2) x, y in mm


def _decimate(x: FloatArray, group: int) -> tuple[FloatArray, FloatArray]:
    """Keep the minimum and maximum of each group of samples, in time order."""
    n = x.size // group * group
    if group <= 1 or n == 0:
        return np.arange(x.size, dtype=np.float64), x
    blocks = x[:n].reshape(-1, group)
    lo, hi = np.argmin(blocks, axis=1), np.argmax(blocks, axis=1)
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    base = np.arange(blocks.shape[0]) * group
    idx = np.stack([base + first, base + second], axis=1).ravel()
    return idx.astype(np.float64), x[idx]


def _segment(x: FloatArray, fs: float, x0: float, y0: float) -> FloatArray:
    group = max(int(fs / (SPEED_MM_S * 4)), 1)  # about 4 min/max pairs a millimetre
    idx, values = _decimate(np.clip(x, -MAX_MV, MAX_MV), group)
    return np.column_stack([x0 + idx / fs * SPEED_MM_S, y0 - values * GAIN_MM_MV])


def layout(record: EcgRecord) -> list[Trace]:
    """The traces of the 3x4 + rhythm-strip page."""
    fs = record.fs
    sig = remove_baseline(record.samples, fs)
    start_x = GRID_X0 + CAL_MM
    col_n = round(COLUMN_S * fs)
    traces = []
    for row, names in enumerate(LAYOUT):
        y0 = GRID_Y0 + (row + 0.5) * ROW_MM
        for col, name in enumerate(names):
            if name not in record.leads:
                continue
            x = sig[record.leads.index(name), col * col_n : (col + 1) * col_n]
            if x.size < 2:
                continue
            x0 = start_x + col * COLUMN_S * SPEED_MM_S
            traces.append(Trace(name, (x0 + 1.0, y0 - 12.0), _segment(x, fs, x0, y0)))
    strip = "II" if "II" in record.leads else record.leads[0]
    y0 = GRID_Y0 + 3.5 * ROW_MM
    x = sig[record.leads.index(strip), : int(STRIP_S * fs)]
    traces.append(Trace(strip, (start_x + 1.0, y0 - 12.0), _segment(x, fs, start_x, y0)))
    return traces


def _calibration(y0: float) -> FloatArray:
    x0 = GRID_X0 + 2.0
    w = 0.2 * SPEED_MM_S
    h = GAIN_MM_MV
    return np.array([[x0, y0], [x0 + 1, y0], [x0 + 1, y0 - h], [x0 + 1 + w, y0 - h],
                     [x0 + 1 + w, y0], [x0 + 2 + w, y0]])  # fmt: skip


def caption(record: EcgRecord) -> str:
    """Speed, gain and sampling rate."""
    return (
        f"{SPEED_MM_S:g} mm/s   {GAIN_MM_MV:g} mm/mV   {record.fs:g} Hz   {record.duration_s:.1f} s"
    )


def _points(p: FloatArray) -> str:
    return " ".join(f"{x:.2f},{y:.2f}" for x, y in p)


def render_svg(record: EcgRecord, title: str | None = None) -> str:
    """The ECG on standard paper as an SVG document (a string)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_MM}mm" height="{HEIGHT_MM}mm" '
        f'viewBox="0 0 {WIDTH_MM} {HEIGHT_MM}" font-family="sans-serif">',
        "<defs>"
        '<pattern id="minor" width="1" height="1" patternUnits="userSpaceOnUse">'
        '<path d="M 1 0 L 0 0 0 1" fill="none" stroke="#f4c2c2" stroke-width="0.05"/></pattern>'
        '<pattern id="major" width="5" height="5" patternUnits="userSpaceOnUse">'
        '<rect width="5" height="5" fill="url(#minor)"/>'
        '<path d="M 5 0 L 0 0 0 5" fill="none" stroke="#e08080" stroke-width="0.15"/></pattern>'
        "</defs>",
        f'<rect width="{WIDTH_MM}" height="{HEIGHT_MM}" fill="#ffffff"/>',
        f'<g transform="translate({GRID_X0} {GRID_Y0})"><rect width="{GRID_W}" height="{GRID_H}" '
        'fill="url(#major)" stroke="#e08080" stroke-width="0.2"/></g>',
    ]
    if title:
        parts.append(f'<text x="{MARGIN_MM}" y="8" font-size="4">{escape(title)}</text>')
    for row in range(4):
        y0 = GRID_Y0 + (row + 0.5) * ROW_MM
        parts.append(
            f'<polyline points="{_points(_calibration(y0))}" fill="none" stroke="#000" '
            'stroke-width="0.25"/>'
        )
    for trace in layout(record):
        lx, ly = trace.label_xy
        parts.append(
            f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="3.5">{escape(trace.label)}</text>'
        )
        parts.append(
            f'<polyline points="{_points(trace.points)}" fill="none" stroke="#000" '
            'stroke-width="0.2" stroke-linejoin="round"/>'
        )
    text = escape(caption(record))
    parts.append(f'<text x="{MARGIN_MM}" y="{HEIGHT_MM - 3}" font-size="3.5">{text}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _font(size_px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size_px)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _grid(draw: ImageDraw.ImageDraw, s: float) -> None:
    minor, major = (248, 205, 205), (224, 128, 128)
    for mm in range(int(GRID_W) + 1):
        x = (GRID_X0 + mm) * s
        bold = mm % 5 == 0
        line = [(x, GRID_Y0 * s), (x, (GRID_Y0 + GRID_H) * s)]
        draw.line(line, fill=major if bold else minor, width=2 if bold else 1)
    for mm in range(int(GRID_H) + 1):
        y = (GRID_Y0 + mm) * s
        bold = mm % 5 == 0
        line = [(GRID_X0 * s, y), ((GRID_X0 + GRID_W) * s, y)]
        draw.line(line, fill=major if bold else minor, width=2 if bold else 1)


def render_png(record: EcgRecord, title: str | None = None, px_per_mm: float = 5.0) -> bytes:
    """The ECG on standard paper as PNG bytes (``px_per_mm`` pixels a millimetre)."""
    if not 1.0 <= px_per_mm <= 20.0:
        raise ValueError(f"px_per_mm={px_per_mm!r} outside 1-20")
    s = px_per_mm
    image = Image.new("RGB", (int(WIDTH_MM * s), int(HEIGHT_MM * s)), "white")
    draw = ImageDraw.Draw(image)
    _grid(draw, s)
    font = _font(int(3.5 * s))
    line_w = max(round(0.25 * s), 1)
    for row in range(4):
        cal = _calibration(GRID_Y0 + (row + 0.5) * ROW_MM) * s
        draw.line([tuple(p) for p in cal], fill="black", width=line_w)
    for trace in layout(record):
        draw.text(
            (trace.label_xy[0] * s, (trace.label_xy[1] - 3) * s),
            trace.label,
            fill="black",
            font=font,
        )
        draw.line([tuple(p) for p in trace.points * s], fill="black", width=line_w, joint="curve")
    if title:
        draw.text((MARGIN_MM * s, 4 * s), title, fill="black", font=font)
    draw.text((MARGIN_MM * s, (HEIGHT_MM - 7) * s), caption(record), fill="black", font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
