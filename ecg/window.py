"""Windows of a recording's samples for the reader, decoded once and served as int16.

The original file is parsed once (in a worker) into a *tracing*: the samples decimated to at most
500 Hz, as little-endian int16 in units of ``scale_uv`` microvolts (1 µV unless the record's peak
needs a coarser unit), lead-major, in an ``.npy`` file beside a small JSON description. A window is
then a slice of a memory map: a 10 s page of a 24-hour Holter costs a few kilobytes of I/O.

The cache is content-addressed (SHA-256 of the original file plus the CSV profile it was read
with), so a stale or foreign tracing can never be served for a recording.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from consult.filestore import atomic_write
from ecg.readers import CsvProfile, read_ecg
from ecg.record import EcgRecord

logger = logging.getLogger(__name__)

MAX_FS = 500.0
INT16_MAX = 32767
MAX_WINDOW_S = 120.0
"""The longest window one request may ask for (a page of strips is 60 s)."""
MAX_WINDOW_VALUES = 12 * 500 * 60
"""Values (leads x samples) one window may carry: 12 leads x 60 s at 500 Hz, 720 kB."""
CACHE_BYTES = 4 << 30
"""The tracing cache's size bound; the least recently read tracings go first (rebuilt on demand)."""


@dataclass(frozen=True)
class Tracing:
    """What a decoded tracing holds: served rate, lead names, scale and length."""

    fs: float
    leads: tuple[str, ...]
    scale_uv: int
    n_samples: int

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "leads": list(self.leads)})

    @classmethod
    def from_json(cls, text: str) -> Tracing:
        raw = json.loads(text)
        return cls(
            fs=float(raw["fs"]),
            leads=tuple(raw["leads"]),
            scale_uv=int(raw["scale_uv"]),
            n_samples=int(raw["n_samples"]),
        )


@dataclass(frozen=True)
class Window:
    """A window's samples (int16, leads x count) and where they sit in the tracing."""

    tracing: Tracing
    leads: tuple[str, ...]
    start: int
    values: npt.NDArray[np.int16]

    @property
    def count(self) -> int:
        return int(self.values.shape[1])

    def body(self) -> bytes:
        """Little-endian int16, lead after lead."""
        return self.values.astype("<i2", copy=False).tobytes()


class WindowError(ValueError):
    """A window request outside the tracing or too large; ``field`` names the parameter."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def cache_key(sha256: str, profile: CsvProfile | None) -> str:
    """The content address of a tracing: the file's digest and the profile it was read with."""
    if profile is None:
        return sha256
    text = json.dumps(dataclasses.asdict(profile), sort_keys=True, default=list)
    return sha256[:48] + hashlib.sha256(text.encode()).hexdigest()[:16]


def paths(root: Path, key: str) -> tuple[Path, Path]:
    """The samples file and the description file of a tracing."""
    if not key.isalnum():
        raise ValueError(f"not a tracing key: {key[:80]!r}")
    return root / f"{key}.npy", root / f"{key}.json"


def decode(data: bytes, filename: str, profile: CsvProfile | None) -> tuple[Tracing, np.ndarray]:
    """Parse a file into the int16 samples of its tracing (pure)."""
    return tracing_of(read_ecg(data, filename, profile))


def tracing_of(record: EcgRecord) -> tuple[Tracing, np.ndarray]:
    """A record's tracing: at most 500 Hz, int16 in the smallest whole unit of uV that holds it."""
    step = max(1, int(record.fs // MAX_FS))
    mv = np.asarray(record.samples[:, ::step])
    peak_uv = float(np.abs(mv).max()) * 1000.0
    scale = max(1, math.ceil(peak_uv / INT16_MAX))
    values = np.clip(np.rint(mv * (1000.0 / scale)), -INT16_MAX, INT16_MAX).astype("<i2")
    tracing = Tracing(
        fs=record.fs / step, leads=record.leads, scale_uv=scale, n_samples=values.shape[1]
    )
    return tracing, values


def build(
    root: Path,
    key: str,
    data: bytes,
    filename: str,
    profile: CsvProfile | None,
    max_bytes: int = CACHE_BYTES,
) -> Tracing:
    """Decode a file and store its tracing under ``key`` (worker; atomic, idempotent)."""
    npy, meta = paths(root, key)
    tracing, values = decode(data, filename, profile)
    root.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_name(f".{npy.stem}.{uuid.uuid4().hex}.npy")
    try:
        np.save(tmp, values, allow_pickle=False)
        tmp.replace(npy)
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write(meta, tracing.to_json().encode(), durable=False)
    trim(root, key, max_bytes)
    logger.info(
        "tracing %s: %d leads, %.0f s at %g Hz",
        key[:12],
        len(tracing.leads),
        tracing.duration_s,
        tracing.fs,
    )
    return tracing


def trim(root: Path, keep: str, max_bytes: int) -> int:
    """Remove the least recently read tracings (never ``keep``) until the cache fits; how many."""
    entries = []
    for npy in root.glob("*.npy"):
        try:
            entries.append((npy.stat().st_mtime, npy.stat().st_size, npy))
        except FileNotFoundError:
            continue
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, npy in sorted(entries):
        if total <= max_bytes:
            break
        if npy.stem == keep or npy.name.startswith("."):
            continue
        npy.with_suffix(".json").unlink(missing_ok=True)
        npy.unlink(missing_ok=True)
        total -= size
        removed += 1
    if removed:
        logger.info("tracing cache: %d removed, %d MB kept", removed, total >> 20)
    return removed


def stored(root: Path, key: str) -> Tracing | None:
    """The tracing's description if it is cached."""
    npy, meta = paths(root, key)
    if not (npy.exists() and meta.exists()):
        return None
    return Tracing.from_json(meta.read_text())


def window_range(
    tracing: Tracing, start_s: float, duration_s: float, leads: tuple[str, ...]
) -> tuple[int, int]:
    """The sample range of a window; :class:`WindowError` when it cannot be served."""
    if not (math.isfinite(start_s) and start_s >= 0):
        raise WindowError("start must be a number of seconds >= 0", "start")
    if not (math.isfinite(duration_s) and 0 < duration_s <= MAX_WINDOW_S):
        raise WindowError(f"duration must be > 0 and <= {MAX_WINDOW_S:g} s", "duration")
    start = round(start_s * tracing.fs)
    if start >= tracing.n_samples:
        raise WindowError(
            f"start {start_s:g} s is past the end of the recording ({tracing.duration_s:.1f} s)",
            "start",
        )
    count = min(round(duration_s * tracing.fs), tracing.n_samples - start)
    if count * len(leads) > MAX_WINDOW_VALUES:
        raise WindowError(
            f"a window holds at most {MAX_WINDOW_VALUES} values (leads x samples); "
            "ask for fewer leads or a shorter duration",
            "duration",
        )
    return start, max(count, 1)


def choose_leads(tracing: Tracing, wanted: str | None) -> tuple[str, ...]:
    """The leads named in a comma-separated list (all when empty), in the order asked."""
    if not wanted:
        return tracing.leads
    names = tuple(n.strip() for n in wanted.split(",") if n.strip())
    unknown = [n for n in names if n not in tracing.leads]
    if unknown or not names or len(set(names)) != len(names):
        raise WindowError(
            f"leads must be distinct names of this recording's leads {list(tracing.leads)}", "leads"
        )
    return names


def read_window(
    root: Path, key: str, tracing: Tracing, leads: tuple[str, ...], start: int, count: int
) -> Window:
    """A window of a stored tracing, read through a memory map (I/O only)."""
    npy, _ = paths(root, key)
    data = np.load(npy, mmap_mode="r", allow_pickle=False)
    os.utime(npy)  # recently read: the last to be trimmed
    rows = [tracing.leads.index(n) for n in leads]
    values = np.ascontiguousarray(data[rows, start : start + count])
    return Window(tracing=tracing, leads=leads, start=start, values=values)
