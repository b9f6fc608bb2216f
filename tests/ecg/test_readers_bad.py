"""Truncated, mis-declared or nonsense input raises EcgFormatError with a useful message."""

from __future__ import annotations

import binascii
import contextlib
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecg import CsvProfile, EcgFormatError, read_ecg
from ecg.readers.wfdb import read_wfdb_files


def _samples(n: int = 500) -> np.ndarray:
    t = np.arange(n)
    return np.column_stack([100 * np.sin(t / 10), 50 * np.cos(t / 7)]).astype("<i2")


def _dat(n: int = 500) -> bytes:
    return _samples(n).tobytes()


def _header() -> str:
    sums = [int(c) & 0xFFFF for c in _samples().astype(np.int64).sum(axis=0)]
    sums = [c - 65536 if c >= 32768 else c for c in sums]
    return (
        "rec 2 250 500\n"
        f"rec.dat 16 200 16 0 0 {sums[0]} 0 I\n"
        f"rec.dat 16 200 16 0 0 {sums[1]} 0 II\n"
    )


HEADER = _header()


def test_wfdb_from_memory_reads() -> None:
    rec = read_wfdb_files(HEADER, {"rec.dat": _dat()})
    assert rec.n_samples == 500
    assert rec.leads[:2] == ("I", "II")


@pytest.mark.parametrize(
    ("header", "files", "message"),
    [
        (HEADER, {"rec.dat": _dat()[:-100]}, "truncated"),
        (HEADER, {}, "missing"),
        (
            HEADER.replace("rec 2 250 500", "rec 3 250 500"),
            {"rec.dat": _dat()},
            "declares 3 signals",
        ),
        (HEADER.replace("rec 2 250 500", "rec 0 250"), {"rec.dat": _dat()}, "0 signals"),
        (HEADER.replace("16 200", "99 200"), {"rec.dat": _dat()}, "format 99"),
        (HEADER.replace("rec 2 250 500", "rec 2 5 500"), {"rec.dat": _dat()}, "fs=5.0"),
        (HEADER.replace("rec.dat 16", "../x 16", 1), {}, "unsafe"),
        (
            HEADER.replace(" 0 I", " 1 I").replace("0 0 4", "0 0 14", 1),
            {"rec.dat": _dat()},
            "checksum",
        ),
        ("", {}, "empty"),
        (HEADER.replace("200", "0.0001"), {"rec.dat": _dat()}, "not plausible"),
    ],
)
def test_bad_wfdb(header: str, files: dict[str, bytes], message: str) -> None:
    with pytest.raises(EcgFormatError, match=message):
        read_wfdb_files(header, files)


def test_bad_wfdb_zip() -> None:
    with pytest.raises(EcgFormatError, match="zip"):
        read_ecg(b"PK\x03\x04 not really a zip", "rec.zip")


@pytest.mark.parametrize("cut", [10, 30, 200, 3000, 20000, 34000])
def test_truncated_scp(scp_bytes: bytes, cut: int) -> None:
    with pytest.raises(EcgFormatError, match="SCP-ECG"):
        read_ecg(scp_bytes[:cut], "Example.scp")


def _with_crcs(data: bytearray, section_start: int, section_length: int) -> bytes:
    """Re-seal an edited SCP file: the section's CRC and the record's CRC."""
    crc = binascii.crc_hqx(bytes(data[section_start + 2 : section_start + section_length]), 0xFFFF)
    data[section_start : section_start + 2] = struct.pack("<H", crc)
    data[0:2] = struct.pack("<H", binascii.crc_hqx(bytes(data[2:]), 0xFFFF))
    return bytes(data)


def test_scp_wrong_declared_sizes(scp_bytes: bytes) -> None:
    data = bytearray(scp_bytes)
    data[2:6] = struct.pack("<I", len(data) + 10)
    with pytest.raises(EcgFormatError, match="record length"):
        read_ecg(bytes(data), "Example.scp")
    data = bytearray(scp_bytes)
    data[329 - 1 + 16] = 0  # section 3: lead count
    with pytest.raises(EcgFormatError, match="zero leads"):
        read_ecg(_with_crcs(data, 329 - 1, 126), "Example.scp")
    data = bytearray(scp_bytes)
    s6 = 3819 - 1
    data[s6 + 16 + 6 : s6 + 16 + 8] = struct.pack("<H", 60000)  # lead 1 longer than section 6
    with pytest.raises(EcgFormatError, match="rhythm data of lead 1"):
        read_ecg(_with_crcs(data, s6, 30084), "Example.scp")
    data = bytearray(scp_bytes)
    data[s6 + 16 + 2 : s6 + 16 + 4] = struct.pack("<H", 0)  # sample interval 0 us
    with pytest.raises(EcgFormatError, match="sample interval 0"):
        read_ecg(_with_crcs(data, s6, 30084), "Example.scp")


@pytest.mark.parametrize("cut", [50, 1000, 100000, 400000])
def test_truncated_aecg(aecg_bytes: bytes, cut: int) -> None:
    with pytest.raises(EcgFormatError, match="aECG"):
        read_ecg(aecg_bytes[:cut], "ecg_hl7.xml")


def test_aecg_nonsense(aecg_bytes: bytes) -> None:
    with pytest.raises(EcgFormatError, match="DTD"):
        read_ecg(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><AnnotatedECG/>', "x.xml")
    bad = aecg_bytes.replace(
        b'<increment value="0.002" unit="s"/>', b'<increment value="0" unit="s"/>'
    )
    with pytest.raises(EcgFormatError, match="not positive"):
        read_ecg(bad, "x.xml")
    bad = aecg_bytes.replace(b"<digits>-2 -2", b"<digits>-2 NaN", 1)
    with pytest.raises(EcgFormatError, match="NaN"):
        read_ecg(bad, "x.xml")
    bad = aecg_bytes.replace(b"<digits>-2 -2", b"<digits>-2 x", 1)
    with pytest.raises(EcgFormatError, match="digits"):
        read_ecg(bad, "x.xml")


@pytest.mark.parametrize("cut", [100, 2000, 60000, -1000])
def test_truncated_dicom(dicom_bytes: bytes, cut: int) -> None:
    with pytest.raises(EcgFormatError, match="DICOM"):
        read_ecg(dicom_bytes[:cut], "waveform_ecg.dcm")


def test_dicom_wrong_declared_sizes(dicom_bytes: bytes) -> None:
    import io

    import pydicom

    ds = pydicom.dcmread(io.BytesIO(dicom_bytes))
    ds.WaveformSequence[0].NumberOfWaveformSamples = 20000
    buf = io.BytesIO()
    ds.save_as(buf)
    with pytest.raises(EcgFormatError, match="truncated"):
        read_ecg(buf.getvalue(), "x.dcm")
    ds.WaveformSequence[0].NumberOfWaveformSamples = 10000
    ds.WaveformSequence[0].NumberOfWaveformChannels = 0
    buf = io.BytesIO()
    ds.save_as(buf)
    with pytest.raises(EcgFormatError, match="0 channels"):
        read_ecg(buf.getvalue(), "x.dcm")


def test_csv_problems() -> None:
    profile = CsvProfile(fs=250, leads=("I", "II"))
    with pytest.raises(EcgFormatError, match="device profile"):
        read_ecg(b"1,2\n3,4\n", "x.csv")
    with pytest.raises(EcgFormatError, match="NaN"):
        read_ecg(b"1,2\nnan,4\n3,3\n", "x.csv", profile)
    with pytest.raises(EcgFormatError, match="line 2 has 1 columns"):
        read_ecg(b"1,2\n3\n", "x.csv", profile)
    with pytest.raises(EcgFormatError, match="no sample rows"):
        read_ecg(b"\n\n", "x.csv", profile)
    with pytest.raises(EcgFormatError, match="empty file"):
        read_ecg(b"", "x.csv", profile)


def test_zero_leads() -> None:
    with pytest.raises(EcgFormatError, match="no lead"):
        read_ecg(
            b'<AnnotatedECG xmlns="urn:hl7-org:v3"><component><series><code code="RHYTHM"/>'
            b'<component><sequenceSet><component><sequence><code code="TIME_ABSOLUTE"/>'
            b'<value><increment value="0.002" unit="s"/></value></sequence></component>'
            b"</sequenceSet></component></series></component></AnnotatedECG>",
            "x.xml",
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=600),
    name=st.sampled_from(["x.scp", "x.dcm", "x.xml", "x.zip", "x.csv", "x.bin", "x.hea"]),
)
def test_garbage_never_leaks_other_errors(data: bytes, name: str) -> None:
    with contextlib.suppress(EcgFormatError):
        read_ecg(data, name, CsvProfile(fs=250, leads=("I",)))


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=34143), flip=st.integers(0, 255))
def test_corrupted_scp_never_leaks(scp_bytes: bytes, cut: int, flip: int) -> None:
    data = bytearray(scp_bytes)
    data[cut] ^= flip
    with contextlib.suppress(EcgFormatError):
        read_ecg(bytes(data), "x.scp")


def test_wfdb_header_alone(ecg_data: Path) -> None:
    with pytest.raises(EcgFormatError, match="zip"):
        read_ecg((ecg_data / "misc" / "100s.hea").read_bytes(), "100s.hea")


def test_scp_crc_detects_corruption(scp_bytes: bytes) -> None:
    data = bytearray(scp_bytes)
    data[5000] ^= 0x01  # one bit in the rhythm data
    with pytest.raises(EcgFormatError, match="CRC"):
        read_ecg(bytes(data), "Example.scp")
