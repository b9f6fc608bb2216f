"""Fixtures: the shared test recordings (skipped cleanly when absent) and synthetic ECGs."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ecg"


@pytest.fixture(scope="session")
def ecg_data() -> Path:
    """The shared ECG data folder (``/work/shared/data/ecg``)."""
    if not DATA.is_dir():
        pytest.skip("shared ECG test data not present")
    return DATA.resolve()


@pytest.fixture(scope="session")
def aecg_bytes(ecg_data: Path) -> bytes:
    return (ecg_data / "aecg" / "ecg_hl7.xml").read_bytes()


@pytest.fixture(scope="session")
def scp_bytes(ecg_data: Path) -> bytes:
    return (ecg_data / "scp" / "Example.scp").read_bytes()


@pytest.fixture(scope="session")
def dicom_bytes() -> bytes:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("waveform_ecg.dcm")
    if path is None:
        pytest.skip("pydicom test file waveform_ecg.dcm not available")
    return Path(str(path)).read_bytes()
