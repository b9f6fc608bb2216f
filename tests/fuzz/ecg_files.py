"""Small valid ECG files of every format the readers take, made in code, and byte mutations."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

import numpy as np
import pydicom
import pytest
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from ecg import CsvProfile
from tests.ecg.scp_writer import write_scp
from tests.ecg.synth import SynthSpec, synth
from tests.ecg_center.files import wfdb_zip

FS = 250.0
CSV_LEADS = ("I", "II", "V1")
CSV_PROFILE = CsvProfile(fs=FS, leads=CSV_LEADS)
CSV_FIELDS = {"csv_fs": str(int(FS)), "csv_leads": ",".join(CSV_LEADS)}


@dataclass(frozen=True)
class Sample:
    fmt: str
    filename: str
    data: bytes


def _record(seconds: float = 3.0):  # type: ignore[no-untyped-def]
    return synth(SynthSpec(fs=FS, seconds=seconds))


def _scp() -> bytes:
    rec = _record()
    return write_scp(rec.samples * 1000.0, rec.leads, FS)


def _dicom() -> bytes:
    """pydicom's 12-lead waveform cut to 1.5 s of its rhythm group."""
    path = get_testdata_file("waveform_ecg.dcm")
    if path is None:
        pytest.skip("pydicom test file waveform_ecg.dcm not available")
    ds = pydicom.dcmread(str(path))
    del ds.WaveformSequence[1:]
    group = ds.WaveformSequence[0]
    keep = 1500
    channels = int(group.NumberOfWaveformChannels)
    group.WaveformData = bytes(group.WaveformData)[: 2 * channels * keep]
    group.NumberOfWaveformSamples = keep
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _aecg() -> bytes:
    rec = _record(2.0)
    leads = "".join(
        '<component><sequence><code code="MDC_ECG_LEAD_' + name + '"/><value>'
        '<origin value="0" unit="uV"/><scale value="5" unit="uV"/><digits>'
        + " ".join(str(int(v)) for v in np.round(rec.samples[i] * 200))
        + "</digits></value></sequence></component>"
        for i, name in enumerate(("I", "II"))
    )
    return (
        '<?xml version="1.0"?><AnnotatedECG xmlns="urn:hl7-org:v3"><component><series>'
        '<code code="RHYTHM"/><component><sequenceSet>'
        '<component><sequence><code code="TIME_ABSOLUTE"/>'
        f'<value><increment value="{1 / FS}" unit="s"/></value></sequence></component>'
        f"{leads}</sequenceSet></component></series></component></AnnotatedECG>"
    ).encode()


def _csv() -> bytes:
    rec = _record()
    rows = np.round(rec.samples[:3].T, 3)
    return "".join(",".join(f"{v:.3f}" for v in row) + "\n" for row in rows).encode()


@cache
def samples() -> tuple[Sample, ...]:
    rec = _record()
    return (
        Sample("scp", "ecg.scp", _scp()),
        Sample("dicom", "ecg.dcm", _dicom()),
        Sample("aecg", "ecg.xml", _aecg()),
        Sample("wfdb-zip", "ecg.zip", wfdb_zip(rec)),
        Sample("csv", "ecg.csv", _csv()),
    )


INTEGERS = [b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x00\x00\x80"]
TEXTS = [b"-", b"NaN", b"1e308", b"\x00", b"<", b"&#0;", b"9" * 30, b"\xff\xfe"]
edits = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate", "integer", "text"]),
    st.floats(min_value=0, max_value=1, exclude_max=True),  # where, as a share of the length
    st.integers(min_value=1, max_value=255),
)


def mutated(data: bytes, changes: list[tuple[str, float, int]]) -> bytes:
    """``data`` with each edit applied in turn (positions scale with the current length)."""
    out = bytearray(data)
    for how, where, value in changes:
        if not out:
            break
        at = int(where * len(out))
        if how == "flip":
            out[at] ^= value
        elif how == "set":
            out[at] = value
        elif how == "insert":
            out[at:at] = bytes([value]) * (value % 16 + 1)
        elif how == "delete":
            del out[at : at + value]
        elif how == "truncate":
            del out[at:]
        elif how == "integer":
            out[at : at + 4] = INTEGERS[value % len(INTEGERS)]
        else:
            out[at : at + 1] = TEXTS[value % len(TEXTS)]
    return bytes(out)


mutations = st.lists(edits, min_size=1, max_size=5)
