"""Every format through its reader, with the device's own values; bad input fails clearly."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ecg import STANDARD_LEADS, CsvProfile, EcgFormatError, read_ecg, read_wfdb_record, sniff_format

MACHINE_AECG = {"p_ms": 102, "pr_ms": 148, "qrs_ms": 120, "qt_ms": 420, "qtc_ms": 443,
                "p_axis": 44, "qrs_axis": -61, "t_axis": 86}  # fmt: skip
MACHINE_DICOM = {"rr_ms": 982, "pr_ms": 161, "qrs_ms": 75, "qt_ms": 368, "qtc_ms": 370,
                 "p_axis": 74, "qrs_axis": 52, "t_axis": 57}  # fmt: skip


def _wfdb_zip(ecg_data: Path, record: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for path in (ecg_data / record).parent.glob((ecg_data / record).name + ".*"):
            archive.write(path, f"rec/{path.name}")
    return buf.getvalue()


def test_mitdb_100(ecg_data: Path) -> None:
    import wfdb

    rec = read_wfdb_record(ecg_data / "mitdb" / "100")
    assert rec.fs == 360.0
    assert rec.leads == ("II", "V5")  # MLII is recorded as lead II
    assert rec.samples.shape == (2, 650000)
    ref = wfdb.rdrecord(str(ecg_data / "mitdb" / "100")).p_signal.T
    assert np.allclose(rec.samples, ref)
    assert rec.patient is not None
    assert rec.patient.age == 69
    assert rec.patient.sex == "M"


def test_svdb_800_and_its_annotations(ecg_data: Path) -> None:
    import wfdb

    rec = read_wfdb_record(ecg_data / "svdb" / "800")
    assert rec.fs == 128.0
    assert rec.samples.shape == (2, 230400)
    assert rec.leads == ("ECG", "ECG#2")
    ann = wfdb.rdann(str(ecg_data / "svdb" / "800"), "atr")
    assert ann.sample.max() < rec.n_samples


def test_ptb_maps_to_the_standard_12(ecg_data: Path) -> None:
    import wfdb

    rec = read_wfdb_record(ecg_data / "ptb" / "s0010_re")
    assert rec.leads == STANDARD_LEADS
    assert rec.fs == 1000.0
    assert rec.n_samples == 38400
    ref = wfdb.rdrecord(str(ecg_data / "ptb" / "s0010_re")).p_signal.T[:12]
    assert np.allclose(rec.samples, ref)
    assert rec.patient is not None
    assert rec.patient.sex == "F"
    assert rec.patient.age == 81


def test_wfdb_zip_upload(ecg_data: Path) -> None:
    rec = read_ecg(_wfdb_zip(ecg_data, "misc/100s"), "100s.zip")
    assert rec.source_format == "wfdb"
    assert rec.samples.shape == (2, 21600)


def test_aecg_reader(aecg_bytes: bytes) -> None:
    rec = read_ecg(aecg_bytes, "ecg_hl7.xml")
    assert rec.source_format == "aecg"
    assert rec.leads == STANDARD_LEADS
    assert rec.fs == 500.0
    assert rec.n_samples == 5000
    assert rec.machine is not None
    for key, value in MACHINE_AECG.items():
        assert getattr(rec.machine, key) == value, key
    assert "Sinus Rhythm" in rec.machine.statements
    assert rec.patient is not None
    assert rec.patient.sex == "M"


def test_scp_reader_matches_aecg(scp_bytes: bytes, aecg_bytes: bytes) -> None:
    rec = read_ecg(scp_bytes, "Example.scp")
    assert rec.source_format == "scp"
    assert rec.leads == STANDARD_LEADS
    assert rec.fs == 500.0
    assert rec.n_samples == 5000
    assert rec.machine is not None
    for key, value in MACHINE_AECG.items():
        assert getattr(rec.machine, key) == value, key
    same = read_ecg(aecg_bytes, "ecg_hl7.xml")
    assert np.allclose(rec.samples, same.samples)  # the same recording in two formats


def test_dicom_reader(dicom_bytes: bytes) -> None:
    rec = read_ecg(dicom_bytes, "waveform_ecg.dcm")
    assert rec.source_format == "dicom"
    assert rec.leads == STANDARD_LEADS
    assert rec.fs == 1000.0
    assert rec.n_samples == 10000
    assert rec.machine is not None
    for key, value in MACHINE_DICOM.items():
        assert getattr(rec.machine, key) == value, key
    assert rec.machine.statements == ("RITMO SINUSALE", "ECG NORMALE")
    assert rec.patient is not None
    assert rec.patient.sex == "F"
    assert rec.patient.age == 42
    assert float(np.abs(rec.samples).max()) < 5.0  # microvolts scaled to mV
    import pydicom

    reference = pydicom.dcmread(io.BytesIO(dicom_bytes)).waveform_array(0).T / 1000.0
    assert np.allclose(rec.samples, reference)


def test_csv_reader_with_profile() -> None:
    rows = "\n".join(f"{i * 0.004:.3f},{i},{-i},{2 * i}" for i in range(500))
    profile = CsvProfile(fs=250, gain=1000.0, leads=("I", "II", "V1"), time_column=True)
    rec = read_ecg(("t,I,II,V1\n" + rows).encode(), "export.csv", profile=CsvProfile(
        fs=250, gain=1000.0, leads=("I", "II", "V1"), time_column=True, header_rows=1))  # fmt: skip
    assert rec.fs == 250
    assert "aVF" in rec.leads
    assert np.isclose(rec.lead("I")[100], 0.1)
    with pytest.raises(EcgFormatError, match="non-numeric"):
        read_ecg(("t,I,II,V1\n" + rows).encode(), "export.csv", profile=profile)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fs": 0}, "fs=0"),
        ({"fs": 500, "gain": 0}, "gain"),
        ({"fs": 500, "leads": ("I", "i")}, "repeat"),
    ],
)
def test_csv_profile_validates(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CsvProfile(**kwargs)  # type: ignore[arg-type]


def test_sniffing() -> None:
    assert sniff_format(b"\0" * 128 + b"DICM", "x") == "dicom"
    assert sniff_format(b"<AnnotatedECG xmlns='urn:hl7-org:v3'/>", "x") == "aecg"
    assert sniff_format(b"PK\x03\x04", "x") == "wfdb-zip"
    assert sniff_format(b"1,2,3", "a.csv") == "csv"
    with pytest.raises(EcgFormatError, match="unrecognised"):
        sniff_format(b"\x00\x01garbage", "mystery.bin")


def test_uncompressed_scp_round_trip() -> None:
    from tests.ecg.scp_writer import write_scp
    from tests.ecg.synth import SynthSpec, synth

    rec = synth(SynthSpec(fs=500, seconds=4))
    data = write_scp(rec.samples * 1000.0, rec.leads, 500.0)
    back = read_ecg(data, "upload.bin")  # sniffed from the content
    assert back.source_format == "scp"
    assert back.leads == STANDARD_LEADS and back.fs == 500.0
    assert np.allclose(back.samples, rec.samples, atol=0.0026)  # 5 uV steps
    assert back.patient is not None and back.patient.sex == "F"
    assert back.machine is None
