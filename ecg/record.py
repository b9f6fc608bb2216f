"""`EcgRecord`: samples in mV with their sampling rate and lead names, checked on creation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MIN_FS = 50.0
MAX_FS = 20_000.0
MAX_ABS_MV = 100.0


@dataclass(frozen=True)
class PatientInfo:
    """What the file says about the patient (every field optional)."""

    patient_id: str | None = None
    name: str | None = None
    sex: str | None = None  # "M", "F" or None
    age: int | None = None
    birth_date: str | None = None  # ISO yyyy-mm-dd when known

    def __post_init__(self) -> None:
        if self.sex not in (None, "M", "F"):
            raise ValueError(f"sex must be 'M', 'F' or None, not {self.sex!r}")
        if self.age is not None and not 0 <= self.age <= 150:
            raise ValueError(f"age out of range: {self.age!r}")


@dataclass(frozen=True)
class DeviceInfo:
    """The recording device, when the file names it."""

    manufacturer: str | None = None
    model: str | None = None
    software: str | None = None


@dataclass(frozen=True)
class MachineMeasurements:
    """The recording device's own measurements (ms, degrees) and statements, when present."""

    rr_ms: float | None = None
    p_ms: float | None = None
    pr_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_ms: float | None = None
    p_axis: float | None = None
    qrs_axis: float | None = None
    t_axis: float | None = None
    statements: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict of the values."""
        return {
            "rr_ms": self.rr_ms,
            "p_ms": self.p_ms,
            "pr_ms": self.pr_ms,
            "qrs_ms": self.qrs_ms,
            "qt_ms": self.qt_ms,
            "qtc_ms": self.qtc_ms,
            "p_axis": self.p_axis,
            "qrs_axis": self.qrs_axis,
            "t_axis": self.t_axis,
            "statements": list(self.statements),
        }


@dataclass(frozen=True, eq=False)
class EcgRecord:
    """An ECG: ``samples`` shape ``(n_leads, n_samples)`` in mV, sampled at ``fs`` Hz.

    The array is converted to float64, made read-only and checked: ``fs`` in range, shape
    matching ``leads``, every value finite and plausible, lead names unique and non-empty.
    """

    samples: npt.NDArray[np.float64]
    fs: float
    leads: tuple[str, ...]
    patient: PatientInfo | None = None
    device: DeviceInfo | None = None
    machine: MachineMeasurements | None = None
    source_format: str = "unknown"

    def __post_init__(self) -> None:
        fs = float(self.fs)
        if not math.isfinite(fs) or not MIN_FS <= fs <= MAX_FS:
            raise ValueError(f"sampling rate fs={self.fs!r} Hz outside {MIN_FS}-{MAX_FS} Hz")
        object.__setattr__(self, "fs", fs)
        samples = np.array(self.samples, dtype=np.float64, copy=True)
        if samples.ndim != 2:
            raise ValueError(f"samples must be 2-D (leads, samples), got shape {samples.shape}")
        n_leads, n_samples = samples.shape
        if n_leads == 0 or n_samples == 0:
            raise ValueError(f"samples are empty: shape {samples.shape}")
        leads = tuple(self.leads)
        if len(leads) != n_leads:
            raise ValueError(f"{len(leads)} lead names for {n_leads} leads of samples")
        if any(not isinstance(n, str) or not n.strip() for n in leads):
            raise ValueError(f"lead names must be non-empty strings: {leads!r}")
        if len(set(leads)) != len(leads):
            dupes = sorted({n for n in leads if leads.count(n) > 1})
            raise ValueError(f"lead names are not unique: {dupes}")
        finite = np.isfinite(samples)
        if not finite.all():
            lead = leads[int(np.argmin(finite.all(axis=1)))]
            raise ValueError(f"samples of lead {lead} contain NaN or infinite values")
        peak = max(float(samples.max()), -float(samples.min()))  # no |x| copy of a long record
        if peak > MAX_ABS_MV:
            raise ValueError(f"amplitude {peak:.1f} mV is not plausible for an ECG (check gain)")
        samples.setflags(write=False)
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "leads", leads)

    @property
    def n_samples(self) -> int:
        """Number of samples in each lead."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.n_samples / self.fs

    def lead(self, name: str) -> npt.NDArray[np.float64]:
        """The samples of one lead by name (``KeyError`` if absent)."""
        try:
            return self.samples[self.leads.index(name)]
        except ValueError:
            raise KeyError(name) from None
