"""Synthetic 12-lead ECGs for tests: Gaussian P, Q, R, S, T waves projected onto the leads.

Limb leads come from a frontal-plane vector (so Einthoven's law holds), precordial leads from
per-lead amplitudes. ST elevation is a plateau from the J point into the T wave, given as a
frontal vector (magnitude, angle) and per precordial lead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ecg import EcgRecord
from ecg.leads import STANDARD_LEADS

PRECORDIAL = ("V1", "V2", "V3", "V4", "V5", "V6")


@dataclass(frozen=True)
class Wave:
    """One wave: centre (s from R), width (s), frontal amplitude (mV) and angle, chest amps."""

    t: float
    sigma: float
    amp: float
    angle: float
    chest: tuple[float, ...]


NORMAL_WAVES = (
    Wave(-0.16, 0.022, 0.15, 60, (0.05, 0.08, 0.1, 0.1, 0.1, 0.1)),  # P
    Wave(-0.028, 0.007, -0.12, 60, (0.0, 0.0, -0.05, -0.1, -0.12, -0.1)),  # Q
    Wave(0.0, 0.011, 1.2, 60, (0.25, 0.5, 0.9, 1.5, 1.4, 1.1)),  # R
    Wave(0.03, 0.01, -0.3, 60, (-1.0, -1.4, -0.9, -0.5, -0.25, -0.1)),  # S
)
T_WAVE = Wave(0.0, 0.05, 0.35, 50, (0.05, 0.35, 0.45, 0.4, 0.3, 0.25))
PVC_WAVES = (
    Wave(0.0, 0.035, 1.6, -60, (1.2, 1.4, 1.2, 1.0, 0.8, 0.6)),
    Wave(0.3, 0.07, -0.6, -60, (-0.5, -0.6, -0.5, -0.4, -0.3, -0.2)),
)


@dataclass(frozen=True)
class SynthSpec:
    """What to synthesise."""

    rate_bpm: float = 70.0
    seconds: float = 10.0
    fs: float = 500.0
    noise_mv: float = 0.01
    p_waves: bool = True
    rr_s: tuple[float, ...] | None = None  # explicit RR intervals (AF, pauses)
    st_frontal: tuple[float, float] = (0.0, 90.0)  # ST vector mV, angle
    st_chest: dict[str, float] = field(default_factory=dict)
    pvc_beats: tuple[int, ...] = ()
    fibrillation_mv: float = 0.0
    flutter_bpm: float = 0.0
    mains_mv: float = 0.0
    wander_mv: float = 0.0
    seed: int = 1
    sex: str | None = None
    age: int | None = None


def _frontal(amp: float, angle: float) -> dict[str, float]:
    x, y = amp * math.cos(math.radians(angle)), amp * math.sin(math.radians(angle))
    lead_i = x
    lead_ii = x * 0.5 + y * math.sqrt(3) / 2
    return {
        "I": lead_i, "II": lead_ii, "III": lead_ii - lead_i, "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2, "aVF": lead_ii - lead_i / 2,
    }  # fmt: skip


def _lead_amps(wave: Wave) -> np.ndarray:
    limb = _frontal(wave.amp, wave.angle)
    return np.array([limb[n] for n in STANDARD_LEADS[:6]] + list(wave.chest))


def beat_times(spec: SynthSpec) -> np.ndarray:
    """R-peak times in seconds."""
    if spec.rr_s is not None:
        times = 0.4 + np.concatenate([[0.0], np.cumsum(spec.rr_s)])
    else:
        times = np.arange(0.4, spec.seconds, 60.0 / spec.rate_bpm)
    return times[times < spec.seconds - 0.45]


def _add_wave(
    sig: np.ndarray, t: np.ndarray, centre: float, sigma: float, amps: np.ndarray
) -> None:
    lo, hi = np.searchsorted(t, [centre - 5 * sigma, centre + 5 * sigma])
    shape = np.exp(-0.5 * ((t[lo:hi] - centre) / sigma) ** 2)
    sig[:, lo:hi] += amps[:, None] * shape[None, :]


def _st_amps(spec: SynthSpec) -> np.ndarray:
    limb = _frontal(*spec.st_frontal)
    return np.array(
        [limb[n] for n in STANDARD_LEADS[:6]] + [spec.st_chest.get(n, 0.0) for n in PRECORDIAL]
    )


def _add_st(sig: np.ndarray, t: np.ndarray, r: float, qt: float, amps: np.ndarray) -> None:
    if not np.any(amps):
        return
    rise = 0.5 * (1 + np.tanh((t - (r + 0.04)) / 0.006))
    fall = 0.5 * (1 - np.tanh((t - (r + qt - 0.08)) / 0.06))
    sig += amps[:, None] * (rise * fall)[None, :]


def synth(spec: SynthSpec) -> EcgRecord:
    """A 12-lead `EcgRecord` following ``spec``."""
    rng = np.random.default_rng(spec.seed)
    n = int(spec.seconds * spec.fs)
    t = np.arange(n) / spec.fs
    sig = np.zeros((12, n))
    times = beat_times(spec)
    rr = float(np.median(np.diff(times))) if times.size > 1 else 60.0 / spec.rate_bpm
    qt = 0.4 * math.sqrt(min(max(rr, 0.3), 1.5))
    st_amps = _st_amps(spec)
    for k, r in enumerate(times):
        if k in spec.pvc_beats:
            for w in PVC_WAVES:
                _add_wave(sig, t, r + w.t, w.sigma, _lead_amps(w))
            continue
        for i, w in enumerate(NORMAL_WAVES):
            if i == 0 and not spec.p_waves:
                continue
            _add_wave(sig, t, r + w.t, w.sigma, _lead_amps(w))
        _add_wave(sig, t, r + qt - 0.09, T_WAVE.sigma * qt / 0.4, _lead_amps(T_WAVE))
        _add_st(sig, t, r, qt, st_amps)
    if spec.fibrillation_mv:
        phase = np.cumsum(2 * np.pi * (6 + rng.normal(0, 1.5, n)) / spec.fs)
        sig += spec.fibrillation_mv * np.sin(phase)[None, :] * rng.uniform(0.3, 1, (12, 1))
    if spec.flutter_bpm:
        saw = 2 * ((t * spec.flutter_bpm / 60.0) % 1.0) - 1
        sig += (
            0.15
            * saw[None, :]
            * np.array([0.3, 1, 1, -0.6, -0.3, 1, 0.6, 0.4, 0.3, 0.2, 0.2, 0.1])[:, None]
        )
    sig += spec.mains_mv * np.sin(2 * np.pi * 50 * t)[None, :]
    sig += spec.wander_mv * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6, (12, 1)))
    sig += rng.normal(0, spec.noise_mv, sig.shape)
    return EcgRecord(samples=sig, fs=spec.fs, leads=STANDARD_LEADS, source_format="synthetic")


def flutter_spec(atrial_bpm: float = 300.0, seed: int = 4, seconds: float = 10.0) -> SynthSpec:
    """Sawtooth flutter waves with variable (2:1 to 4:1) conduction, no P waves."""
    rng = np.random.default_rng(seed)
    cycle = 60.0 / atrial_bpm
    rr = tuple(float(cycle * rng.choice([2, 3, 4])) for _ in range(60))
    return SynthSpec(seconds=seconds, p_waves=False, rr_s=rr, flutter_bpm=atrial_bpm, seed=seed)


def af_spec(rate_bpm: float = 90.0, seed: int = 3, seconds: float = 10.0) -> SynthSpec:
    """Irregularly irregular RR, no P waves, fibrillatory baseline."""
    rng = np.random.default_rng(seed)
    mean = 60.0 / rate_bpm
    rr = tuple(float(x) for x in rng.uniform(0.6 * mean, 1.4 * mean, 60))
    return SynthSpec(seconds=seconds, p_waves=False, rr_s=rr, fibrillation_mv=0.04, seed=seed)
