"""Synthetic 12-lead ECGs for tests: Gaussian P, Q, R, S, T waves projected onto the leads.

Limb leads come from a frontal-plane vector (so Einthoven's law holds), precordial leads from
per-lead amplitudes. ST elevation is a plateau from the J point into the T wave, given as a
frontal vector (magnitude, angle) and per precordial lead.

Atrial arrhythmias: atrial fibrillation is a few fibrillatory components (4-9 Hz) whose
frequency and amplitude wander, projected differently onto each lead; atrial flutter is a
train of regular F waves (a sawtooth, negative in II, III and aVF as in typical
counter-clockwise flutter) with a few ms of cycle-length jitter, and each conducted QRS
comes a fixed AV delay after an F wave, so every RR interval is a whole number of F cycles.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

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
# Left bundle branch block: no septal q, a broad notched R in I, aVL, V5 and V6 (two peaks 55
# ms apart), QS in V1-V2, the T wave discordant to the QRS (AHA/ACCF/HRS 2009 part III)
LBBB_WAVES = (
    Wave(-0.02, 0.02, 0.8, -10, (-0.4, -0.5, 0.1, 0.6, 0.9, 0.9)),
    Wave(0.035, 0.02, 0.9, -10, (-0.9, -1.2, -0.6, 0.5, 1.0, 1.0)),
)
LBBB_T = Wave(0.0, 0.05, -0.3, -10, (0.3, 0.4, 0.2, -0.1, -0.3, -0.3))
# Right bundle branch block: the normal complex plus late rightward-anterior forces, an R' in
# V1-V2 and a broad terminal S in I and V6
RBBB_WAVES = (Wave(0.075, 0.022, -0.35, 0, (0.8, 0.6, 0.1, -0.2, -0.3, -0.3)),)
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
    pr_s: float = 0.16  # P-wave centre before the R peak (first-degree AV block: > 0.22)
    fibrillation_mv: float = 0.0  # amplitude of the fibrillatory waves
    fibrillation_hz: float = 6.5  # their dominant frequency (4-9 Hz: 240-540 per minute)
    flutter_bpm: float = 0.0
    flutter_mv: float = 0.2  # F-wave peak-to-peak in lead aVF
    flutter_jitter_ms: float = 3.0  # SD of the F-wave cycle length
    conduction: tuple[int, ...] = ()  # F waves per QRS, cycled (2, 3, 4: flutter block)
    av_delay_s: float = 0.26  # conducted F-wave onset to R peak
    mains_mv: float = 0.0
    wander_mv: float = 0.0
    seed: int = 1
    p_times_s: tuple[float, ...] | None = None  # explicit P-wave times (AV block), not per beat
    blocked_p: bool = False  # 2:1 AV block: a non-conducted P wave half an RR before each
    qrs_scale: float = 1.0  # amplitude of the normal QRS (small beats between large PVCs)
    qrs_pattern: str = "normal"  # "lbbb" or "rbbb": bundle-branch block morphology
    chest_gain: float = 1.0  # precordial QRS voltage (LVH: 1.5-2)
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


def _lead_amps(wave: Wave, chest_gain: float = 1.0) -> np.ndarray:
    limb = _frontal(wave.amp, wave.angle)
    return np.array([limb[n] for n in STANDARD_LEADS[:6]] + [chest_gain * c for c in wave.chest])


def _complex(spec: SynthSpec) -> tuple[tuple[Wave, ...], Wave]:
    """QRS waves (after the P wave) and T wave of a conducted beat."""
    if spec.qrs_pattern == "lbbb":
        return LBBB_WAVES, LBBB_T
    if spec.qrs_pattern == "rbbb":
        return (*NORMAL_WAVES[1:], *RBBB_WAVES), T_WAVE
    if spec.qrs_pattern != "normal":
        raise ValueError(f"unknown qrs_pattern {spec.qrs_pattern!r}")
    return NORMAL_WAVES[1:], T_WAVE


def flutter_onsets(spec: SynthSpec) -> np.ndarray:
    """F-wave onset times (s): a regular cycle with a small Gaussian jitter."""
    rng = np.random.default_rng([spec.seed, 7])
    cycle = 60.0 / spec.flutter_bpm
    n = int(spec.seconds / cycle) + 8
    jitter = rng.normal(0.0, spec.flutter_jitter_ms / 1000.0, n).clip(-0.02, 0.02)
    return -rng.uniform(1, 3) * cycle + np.concatenate([[0.0], np.cumsum(cycle + jitter)])


def _conducted(spec: SynthSpec) -> np.ndarray:
    """R-peak times of flutter: every ``conduction[k]``-th F wave conducts after the AV delay."""
    onsets = flutter_onsets(spec)
    ratios = itertools.cycle(spec.conduction)
    idx, out = 0, []
    while idx < onsets.size:
        out.append(onsets[idx] + spec.av_delay_s)
        idx += next(ratios)
    times = np.asarray(out)
    return times[times >= 0.3]


def beat_times(spec: SynthSpec) -> np.ndarray:
    """R-peak times in seconds."""
    if spec.flutter_bpm and spec.conduction:
        times = _conducted(spec)
    elif spec.rr_s is not None:
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
        if spec.p_waves and spec.p_times_s is None:
            p = NORMAL_WAVES[0]
            _add_wave(sig, t, r - spec.pr_s, p.sigma, _lead_amps(p))
            if spec.blocked_p:
                _add_wave(sig, t, r - spec.pr_s - rr / 2, p.sigma, _lead_amps(p))
        waves, t_wave = _complex(spec)
        for w in waves:
            amps = spec.qrs_scale * _lead_amps(w, spec.chest_gain)
            _add_wave(sig, t, r + w.t, w.sigma, amps)
        # T end by the tangent (centre + 2 sigma) at QRS onset + qt
        sigma = T_WAVE.sigma * qt / 0.4
        _add_wave(sig, t, r + qt - 0.05 - 2 * sigma, sigma, _lead_amps(t_wave))
        _add_st(sig, t, r, qt, st_amps)
    for p_time in spec.p_times_s or ():
        _add_wave(sig, t, p_time, NORMAL_WAVES[0].sigma, _lead_amps(NORMAL_WAVES[0]))
    if spec.fibrillation_mv:
        sig += fibrillatory_waves(spec, t, rng)
    if spec.flutter_bpm:
        sig += flutter_waves(spec, t)
    sig += spec.mains_mv * np.sin(2 * np.pi * 50 * t)[None, :]
    sig += spec.wander_mv * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6, (12, 1)))
    sig += rng.normal(0, spec.noise_mv, sig.shape)
    return EcgRecord(samples=sig, fs=spec.fs, leads=STANDARD_LEADS, source_format="synthetic")


def _ou(rng: np.random.Generator, n: int, fs: float, tau_s: float) -> np.ndarray:
    """A unit-variance Ornstein-Uhlenbeck (random-walk, mean-reverting) process."""
    a = math.exp(-1.0 / (tau_s * fs))
    drive = rng.normal(0.0, math.sqrt(1 - a * a), n)
    drive[0] = rng.normal()
    return np.asarray(lfilter([1.0], [1.0, -a], drive))


def fibrillatory_waves(spec: SynthSpec, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """AF f-waves ``(12, n)``: three components around the dominant frequency whose frequency
    (SD 15 %, 0.2 s memory) and amplitude (0.5 s memory) wander, each with its own lead
    projection, largest in V1; peak amplitude about ``fibrillation_mv``."""
    n, fs = t.size, spec.fs
    out = np.zeros((12, n))
    lead_gain = np.array([0.5, 0.7, 0.7, 0.5, 0.4, 0.6, 1.0, 0.8, 0.6, 0.4, 0.3, 0.3])
    for _ in range(3):
        f0 = spec.fibrillation_hz * rng.uniform(0.85, 1.15)
        freq = (f0 * (1 + 0.15 * _ou(rng, n, fs, 0.2))).clip(3.5, 10.0)
        phase = np.cumsum(2 * np.pi * freq / fs) + rng.uniform(0, 2 * np.pi)
        envelope = (1 + 0.4 * _ou(rng, n, fs, 0.5)).clip(0.1, None)
        weights = lead_gain * rng.uniform(-1, 1, 12)
        out += weights[:, None] * (envelope * np.sin(phase))[None, :]
    return spec.fibrillation_mv * out / max(float(np.abs(out).std(axis=1).max()) * 1.4, 1e-9)


def _f_wave_shape(phase: np.ndarray) -> np.ndarray:
    """Typical-flutter F wave over one cycle (phase 0-1) as seen in aVF: a slow descent, a
    steep negative deflection and a brisk return; zero mean, peak-to-peak 1."""
    knots_x = [0.0, 0.55, 0.75, 0.92, 1.0]
    knots_y = [0.0, -0.3, -1.0, 0.05, 0.0]
    y = np.interp(phase, knots_x, knots_y)
    return y - np.mean(np.interp(np.linspace(0, 1, 200), knots_x, knots_y))


def flutter_waves(spec: SynthSpec, t: np.ndarray) -> np.ndarray:
    """Flutter F waves ``(12, n)`` between the onsets of `flutter_onsets`: negative in II, III
    and aVF (frontal axis -90 degrees), positive in V1; peak-to-peak ``flutter_mv`` in aVF."""
    onsets = flutter_onsets(spec)
    k = np.clip(np.searchsorted(onsets, t, side="right") - 1, 0, onsets.size - 2)
    phase = (t - onsets[k]) / (onsets[k + 1] - onsets[k])
    wave = _f_wave_shape(phase)
    sigma = max(int(0.006 * spec.fs), 1)  # soften the corners (6 ms)
    kernel = np.exp(-0.5 * (np.arange(-3 * sigma, 3 * sigma + 1) / sigma) ** 2)
    wave = np.convolve(wave, kernel / kernel.sum(), mode="same")
    amps = _lead_amps(Wave(0, 0, -1.0, 90, (0.7, 0.5, 0.3, 0.1, -0.1, -0.2))) / 0.866
    return spec.flutter_mv * amps[:, None] * wave[None, :]


def flutter_spec(
    atrial_bpm: float = 300.0,
    seed: int = 4,
    seconds: float = 10.0,
    conduction: tuple[int, ...] | None = None,
    **kwargs: object,
) -> SynthSpec:
    """Atrial flutter, no P waves: variable 2:1 to 4:1 block (random per beat) by default, or
    the given ``conduction`` ratios cycled (``(2,)`` is fixed 2:1 block)."""
    rng = np.random.default_rng([seed, 11])
    ratios = conduction or tuple(int(x) for x in rng.choice([2, 3, 4], 60))
    return SynthSpec(
        seconds=seconds, p_waves=False, flutter_bpm=atrial_bpm, conduction=ratios, seed=seed,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def af_spec(
    rate_bpm: float = 90.0, seed: int = 3, seconds: float = 10.0, **kwargs: object
) -> SynthSpec:
    """Irregularly irregular RR, no P waves, fibrillatory baseline (dominant rate 350-540/min
    and amplitude 0.04-0.1 mV drawn from the seed unless given)."""
    rng = np.random.default_rng(seed)
    mean = 60.0 / rate_bpm
    rr = tuple(float(x) for x in rng.uniform(0.6 * mean, 1.4 * mean, 60))
    params: dict[str, object] = {
        "fibrillation_mv": float(rng.uniform(0.04, 0.1)),
        "fibrillation_hz": float(rng.uniform(350, 540) / 60.0),
    }
    params.update(kwargs)
    return SynthSpec(seconds=seconds, p_waves=False, rr_s=rr, seed=seed, **params)  # type: ignore[arg-type]


def av_block_spec(
    kind: str, seconds: float = 10.0, pp_s: float = 0.8, seed: int = 1, **kwargs: object
) -> SynthSpec:
    """Sinus P waves every ``pp_s`` with second- or third-degree AV block.

    ``kind``: ``"mobitz1"`` (4:3 Wenckebach, PR 160, 250, 300 ms, then a blocked P wave),
    ``"mobitz2"`` (PR constant 160 ms, every fourth P wave blocked) or ``"avb3"`` (P waves
    and a regular 42/min escape rhythm independent of each other).
    """
    p = 0.25 + pp_s * np.arange(int(seconds / pp_s) + 1)
    if kind == "avb3":
        r = 0.5 + 1.43 * np.arange(int(seconds / 1.43) + 1)
    elif kind in ("mobitz1", "mobitz2"):
        prs = (0.16, 0.25, 0.30, None) if kind == "mobitz1" else (0.16, 0.16, 0.16, None)
        r = np.array([t + pr for t, pr in zip(p, itertools.cycle(prs)) if pr is not None])
    else:
        raise ValueError(f"unknown AV block kind {kind!r}")
    r = r[(r > 0.3) & (r < seconds - 0.45)]
    shift = 0.4 - r[0]  # beat_times puts the first R peak at 0.4 s
    p = p + shift
    rr = tuple(float(x) for x in np.diff(r))
    return SynthSpec(
        seconds=seconds, rr_s=rr, p_times_s=tuple(float(x) for x in p[(p > 0.1) & (p < seconds - 0.2)]),
        seed=seed, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
