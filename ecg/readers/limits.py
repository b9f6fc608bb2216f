"""How much an uploaded ECG may hold, checked by every reader before it decodes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ecg.errors import EcgTooLarge, EcgTooLong

SAMPLE_BYTES = 2
"""A decoded recording is measured as 16-bit samples (WFDB format 16), whatever its encoding, so
that one bound holds a zip's expanded bytes and a Huffman-coded or deflated file's samples."""


@dataclass(frozen=True)
class ReadLimits:
    """The longest recording and the largest expanded size a reader accepts.

    Parameters
    ----------
    max_duration_s:
        Seconds of recording (samples / fs) an upload may declare or hold.
    max_bytes:
        Bytes a compressed file may inflate to, and the size of the decoded samples counted at
        :data:`SAMPLE_BYTES` each.
    """

    max_duration_s: float = math.inf
    max_bytes: float = math.inf

    def __post_init__(self) -> None:
        if not self.max_duration_s > 0:
            raise ValueError(f"ReadLimits max_duration_s={self.max_duration_s!r} must be positive")
        if not self.max_bytes > 0:
            raise ValueError(f"ReadLimits max_bytes={self.max_bytes!r} must be positive")

    def check_duration(self, n_samples: int, fs: float, *, at_least: bool = False) -> None:
        """Raise `EcgTooLong` when ``n_samples`` at ``fs`` Hz last longer than allowed."""
        if fs > 0 and n_samples / fs > self.max_duration_s:
            raise EcgTooLong(n_samples / fs, self.max_duration_s, at_least=at_least)

    def check_samples(self, what: str, n_values: int) -> None:
        """Raise `EcgTooLarge` when ``n_values`` samples (all leads) exceed the size bound."""
        if n_values * SAMPLE_BYTES > self.max_bytes:
            raise EcgTooLarge.samples(what, n_values, self.max_bytes)

    def check(self, what: str, n_leads: int, n_samples: int, fs: float) -> None:
        """Both checks, for a format that declares its lead count, length and rate up front."""
        self.check_duration(n_samples, fs)
        self.check_samples(what, n_leads * n_samples)


NO_LIMITS = ReadLimits()
"""For files the center already holds (they were checked when they came in) and local tools."""

DEFAULT_MAX_DURATION_S = 48 * 3600.0
"""The settings' defaults (``ecg_max_duration_hours``, ``ecg_max_expanded_mb``)."""
DEFAULT_MAX_BYTES = 256 << 20
