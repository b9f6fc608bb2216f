"""Pixels to a windowed JPEG or PNG: a pure function of a file path and options, run in a
process pool (it decodes compressed pixel data through pydicom's plugins: pylibjpeg etc.)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image

MAX_SIZE = 2048
PRESETS: dict[str, tuple[float, float]] = {  # CT windows in HU: (centre, width)
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}


class RenderError(ValueError):
    """The options or the pixel data cannot be rendered (bad frame, no pixel data...)."""


@dataclass(frozen=True)
class RenderOptions:
    frame: int = 1
    """1-based frame number."""
    window: tuple[float, float] | None = None
    """(centre, width); None: the preset, the data set's own window, or the full range."""
    preset: str = ""
    max_width: int = 0
    max_height: int = 0
    media_type: str = "image/jpeg"
    quality: int = 90

    def __post_init__(self) -> None:
        if self.frame < 1:
            raise RenderError(f"frame {self.frame} does not exist (frames count from 1)")
        if self.preset and self.preset not in PRESETS:
            raise RenderError(f"unknown window preset {self.preset!r}; known: {', '.join(PRESETS)}")
        if self.window is not None and self.window[1] <= 0:
            raise RenderError("the window width must be positive")
        if self.media_type not in FORMATS:
            raise RenderError(f"cannot render {self.media_type}; use image/jpeg or image/png")
        if not 0 <= self.max_width <= MAX_SIZE or not 0 <= self.max_height <= MAX_SIZE:
            raise RenderError(f"viewport is limited to {MAX_SIZE} pixels a side")
        if not 1 <= self.quality <= 100:
            raise RenderError("quality is 1-100")


def render_file(path: str, options: RenderOptions) -> bytes:
    """Render one frame of the instance at ``path``."""
    ds = pydicom.dcmread(path)
    if "PixelData" not in ds:
        raise RenderError("the instance has no pixel data")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if options.frame > frames:
        raise RenderError(f"frame {options.frame} does not exist ({frames} frames)")
    try:
        pixels = ds.pixel_array if frames == 1 else _frame(ds, options.frame - 1)
    except Exception as exc:  # decoder boundary: any plugin error is a render error
        raise RenderError(f"pixel data cannot be decoded: {exc}") from None
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        image = Image.fromarray(_to_uint8_colour(ds, pixels))
    else:
        image = Image.fromarray(_windowed(ds, pixels, options), mode="L")
    limit = (options.max_width or MAX_SIZE, options.max_height or MAX_SIZE)
    if image.width > limit[0] or image.height > limit[1]:
        image.thumbnail(limit)
    out = io.BytesIO()
    fmt = FORMATS[options.media_type]
    if fmt == "JPEG":
        image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode).save(
            out, fmt, quality=options.quality
        )
    else:
        image.save(out, fmt)
    return out.getvalue()


def _frame(ds: pydicom.Dataset, index: int) -> NDArray[np.generic]:
    from pydicom.pixels import pixel_array

    return pixel_array(ds, index=index)


def _to_uint8_colour(ds: pydicom.Dataset, pixels: NDArray[np.generic]) -> NDArray[np.uint8]:
    if str(ds.get("PhotometricInterpretation", "")).startswith("YBR"):
        from pydicom.pixels import convert_color_space

        pixels = convert_color_space(pixels, str(ds.PhotometricInterpretation), "RGB")
    if pixels.dtype != np.uint8:
        top = float(pixels.max()) or 1.0
        pixels = (pixels.astype(np.float64) * (255.0 / top)).clip(0, 255)
    return pixels.astype(np.uint8)[..., :3]


def _windowed(
    ds: pydicom.Dataset, pixels: NDArray[np.generic], options: RenderOptions
) -> NDArray[np.uint8]:
    values = pixels.astype(np.float64)
    if pixels.ndim == 3:
        values = values[0]
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    values = values * slope + intercept
    window = options.window or (PRESETS[options.preset] if options.preset else None)
    if window is None:
        window = _own_window(ds)
    if window is None:
        low, high = float(values.min()), float(values.max())
        window = ((low + high) / 2, max(high - low, 1.0))
    centre, width = window
    # PS3.3 C.11.2.1.2.1 linear function
    scaled = ((values - (centre - 0.5)) / (width - 1) + 0.5) * 255.0
    out = scaled.clip(0, 255).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 255 - out
    return out


def _own_window(ds: pydicom.Dataset) -> tuple[float, float] | None:
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre is None or width is None:
        return None
    try:
        c = float(centre[0] if isinstance(centre, pydicom.multival.MultiValue) else centre)
        w = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    except (TypeError, ValueError):
        return None
    return (c, w) if w > 0 else None
