"""Lead names: normalisation to the standard 12 and derivation of missing limb leads."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

STANDARD_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)  # fmt: skip

_CANONICAL = {name.lower(): name for name in STANDARD_LEADS}
_ALIASES = {
    "mlii": "II",  # modified limb lead II of ambulatory records
    "mli": "I",
    "mliii": "III",
}
_PREFIXES = ("mdc_ecg_lead_", "lead_", "lead ", "lead-", "ecg lead ", "ecg_lead_")


def normalise_lead_name(name: str) -> str:
    """Return the canonical spelling of a lead name (``"lead avr"`` -> ``"aVR"``).

    Names that are not one of the standard 12 are returned stripped but otherwise unchanged.
    """
    text = name.strip()
    key = text.lower()
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    key = re.sub(r"\s*\(.*\)$", "", key).strip()  # "lead i (einthoven)"
    if key in _CANONICAL:
        return _CANONICAL[key]
    if key in _ALIASES:
        return _ALIASES[key]
    return text


def unique_names(names: list[str]) -> list[str]:
    """Make lead names unique by suffixing repeats (``ECG``, ``ECG`` -> ``ECG``, ``ECG#2``)."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append(name if count == 1 else f"{name}#{count}")
    return out


def order_leads(
    samples: npt.NDArray[np.float64], names: list[str]
) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Put standard leads first in standard order, derive missing limb leads from I and II.

    When all 12 standard leads are present, other leads (Frank X/Y/Z) are dropped; otherwise
    they are kept after the standard ones.
    """
    names = unique_names([normalise_lead_name(n) for n in names])
    rows = {name: samples[i] for i, name in enumerate(names)}
    if "I" in rows and "II" in rows:
        lead_i, lead_ii = rows["I"], rows["II"]
        rows.setdefault("III", lead_ii - lead_i)
        rows.setdefault("aVR", -(lead_i + lead_ii) / 2)
        rows.setdefault("aVL", lead_i - lead_ii / 2)
        rows.setdefault("aVF", lead_ii - lead_i / 2)
    ordered = [n for n in STANDARD_LEADS if n in rows]
    if len(ordered) < len(STANDARD_LEADS):  # extras (X, Y, Z) only when the 12 are incomplete
        ordered += [n for n in names if n not in STANDARD_LEADS]
    if not ordered:
        return samples, names
    return np.vstack([rows[n] for n in ordered]), ordered
