"""EcgRecord and the lead helpers check what they hold."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from ecg import STANDARD_LEADS, EcgRecord
from ecg.leads import normalise_lead_name, order_leads, unique_names


def _record(**overrides: object) -> EcgRecord:
    args: dict[str, object] = {
        "samples": np.zeros((2, 1000)),
        "fs": 500.0,
        "leads": ("I", "II"),
    }
    args.update(overrides)
    return EcgRecord(**args)  # type: ignore[arg-type]


def test_valid_record_is_read_only_and_picklable() -> None:
    rec = _record(samples=np.ones((2, 1000)))
    assert rec.samples.dtype == np.float64
    assert not rec.samples.flags.writeable
    assert rec.duration_s == 2.0
    again = pickle.loads(pickle.dumps(rec))
    assert np.array_equal(again.samples, rec.samples)
    assert again.leads == ("I", "II")
    assert np.array_equal(rec.lead("II"), rec.samples[1])
    with pytest.raises(KeyError):
        rec.lead("V1")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fs": 10.0}, "fs=10.0"),
        ({"fs": float("nan")}, "fs=nan"),
        ({"samples": np.zeros(1000)}, "2-D"),
        ({"samples": np.zeros((0, 1000)), "leads": ()}, "empty"),
        ({"leads": ("I",)}, "1 lead names for 2 leads"),
        ({"leads": ("I", "I")}, "not unique"),
        ({"leads": ("I", " ")}, "non-empty"),
        ({"samples": np.array([[0.0, np.nan], [0.0, 0.0]])}, "lead I contain NaN"),
        ({"samples": np.full((2, 10), 500.0)}, "not plausible"),
    ],
)
def test_invalid_record_names_the_problem(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _record(**overrides)


def test_lead_names_normalise() -> None:
    assert normalise_lead_name("Lead I (Einthoven)") == "I"
    assert normalise_lead_name("MDC_ECG_LEAD_AVR") == "aVR"
    assert normalise_lead_name("v5") == "V5"
    assert normalise_lead_name("MLII") == "II"
    assert normalise_lead_name("vx") == "vx"
    assert unique_names(["ECG", "ECG"]) == ["ECG", "ECG#2"]


def test_missing_limb_leads_are_derived() -> None:
    i = np.array([1.0, 2.0])
    ii = np.array([3.0, 1.0])
    samples, names = order_leads(np.vstack([ii, i]), ["II", "I"])
    assert tuple(names) == STANDARD_LEADS[:6]
    rows = dict(zip(names, samples, strict=True))
    assert np.allclose(rows["III"], ii - i)
    assert np.allclose(rows["aVR"], -(i + ii) / 2)
    assert np.allclose(rows["aVL"], i - ii / 2)
    assert np.allclose(rows["aVF"], ii - i / 2)
