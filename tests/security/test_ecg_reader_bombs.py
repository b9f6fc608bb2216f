"""Issue 19 item 8: every ECG reader bounds the duration and the decoded size before it decodes.

A small file declaring a huge recording (an SCP lead table, a DICOM multiplex group, a deflated
DICOM data set, a WFDB signal file) is refused from what it declares; a CSV export or an aECG
document (which declare nothing) is counted while it is parsed and refused at the limit. Each
one gets a bilingual 413 (too large) or 422 (too long) fast, with no memory spike, other
clients are served meanwhile, and nothing is stored: no ECG, no request, no held upload, no file.
Here ``ecg_max_expanded_mb`` is lowered to 4 MiB so that the bombs stay small.
"""

from __future__ import annotations

import asyncio
import io
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import DeflatedExplicitVRLittleEndian

from ecg.errors import EcgTooLarge
from tests.conftest import Api, ApiUser, Database, make_settings
from tests.core.helpers import new_patient
from tests.ecg.scp_writer import assemble
from web.settings import Settings

LIMIT_MB = 4
LIMIT_VALUES = (LIMIT_MB << 20) // 2  # 16-bit samples in the bound
TOO_LONG = "超过上限"  # EcgTooLong, zh
TOO_LARGE = "MiB"


@pytest.fixture
def settings(tmp_path: Path, seeded_database: Database) -> Settings:
    return make_settings(tmp_path, seeded_database, ecg_max_expanded_mb=LIMIT_MB)


def _scp(n_leads: int, n_samples: int, interval_us: int = 2000) -> bytes:
    """Huffman-coded (default table) SCP-ECG whose lead table declares ``n_samples`` a lead,
    with two bytes of rhythm data for each."""
    s2 = struct.pack("<H", 19999)
    s3 = bytes([n_leads, 0]) + b"".join(
        struct.pack("<IIB", 1, n_samples, lead) for lead in range(1, n_leads + 1)
    )
    s6 = struct.pack("<HHBB", 5000, interval_us, 0, 0) + struct.pack("<H", 2) * n_leads
    s6 += b"\0\0" * n_leads
    return assemble({2: s2, 3: s3, 6: s6})


def _dicom(n_samples: int, *, data_samples: int | None = None, deflated: bool = False) -> bytes:
    """pydicom's 12-lead waveform with its rhythm group declaring ``n_samples``, holding
    ``data_samples`` (zeros), saved plain or deflated."""
    path = get_testdata_file("waveform_ecg.dcm")
    if path is None:
        pytest.skip("pydicom test file waveform_ecg.dcm not available")
    ds = pydicom.dcmread(str(path))
    group = ds.WaveformSequence[0]
    held = n_samples if data_samples is None else data_samples
    group.NumberOfWaveformSamples = n_samples
    group.WaveformData = bytes(2 * int(group.NumberOfWaveformChannels) * held)
    del ds.WaveformSequence[1:]
    if deflated:
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _wfdb_zip(n_bytes: int) -> bytes:
    """A zipped WFDB record of one format-80 signal (one byte a sample), no length declared."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("r.hea", "r 1 1000\nr.dat 80 200 8 0 0 0 0 I\n")
        archive.writestr("r.dat", b"\x80" * n_bytes)
    return out.getvalue()


def _aecg(digits: str, increment_s: float = 0.002) -> bytes:
    return (
        '<AnnotatedECG xmlns="urn:hl7-org:v3"><component><series><code code="RHYTHM"/>'
        "<component><sequenceSet>"
        '<component><sequence><code code="TIME_ABSOLUTE"/>'
        f'<value><increment value="{increment_s}" unit="s"/></value></sequence></component>'
        '<component><sequence><code code="MDC_ECG_LEAD_II"/><value>'
        '<origin value="0" unit="uV"/><scale value="5" unit="uV"/>'
        f"<digits>{digits}</digits></value></sequence></component>"
        "</sequenceSet></component></series></component></AnnotatedECG>"
    ).encode()


@dataclass(frozen=True)
class Bomb:
    make: Callable[[], bytes]
    filename: str
    status: int
    words: tuple[str, ...]
    peak_mb: float  # tracemalloc peak allowed while the server refuses it
    fields: tuple[tuple[str, str], ...] = ()


CSV = (("csv_fs", "500"), ("csv_leads", "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6"))
BOMBS = {
    # 2**30 samples at 500 Hz: 597 h declared in a 300-byte file
    "scp declares 597 h": Bomb(lambda: _scp(1, 2**30), "b.scp", 422, (TOO_LONG, "48 h"), 16),
    # 12 leads x 400 000 samples (13 min): 4.8 M values, more than 4 MiB of 16-bit samples
    "scp declares 9 MiB": Bomb(lambda: _scp(12, 400_000), "b.scp", 413, ("采样", TOO_LARGE), 16),
    # 10**9 samples at 1000 Hz declared, 10 s present
    "dicom declares 278 h": Bomb(
        lambda: _dicom(10**9, data_samples=10_000), "b.dcm", 422, (TOO_LONG, "48 h"), 16
    ),
    # a deflated data set of a few KB inflating to 6 MiB (12 leads x 262 144 samples)
    "dicom deflated": Bomb(
        lambda: _dicom(262_144, deflated=True), "b.dcm", 413, ("解压", TOO_LARGE), 24
    ),
    # 3 MiB inflated (under the zip bound), 3 M one-byte samples: 6 MiB at 16 bits
    "wfdb zip of 8-bit samples": Bomb(
        lambda: _wfdb_zip(3 << 20), "b.zip", 413, ("采样", TOO_LARGE), 24
    ),
    # no declared length: 180 000 rows of 12 leads, counted while parsed, stopped at the bound
    "csv rows": Bomb(
        lambda: b"0,0,0,0,0,0,0,0,0,0,0,0\n" * 180_000, "b.csv", 413, ("采样", TOO_LARGE), 64, CSV
    ),
    # 2.2 M values counted (in C, without splitting) before they are parsed
    "aecg values": Bomb(lambda: _aecg("0 " * 2_200_000), "b.xml", 413, ("采样", TOO_LARGE), 64),
    # one value an hour: 100 h
    "aecg 100 h": Bomb(lambda: _aecg("0 " * 100, 3600.0), "b.xml", 422, (TOO_LONG,), 16),
}


async def _post(user: ApiUser, data: bytes, filename: str, fields: dict[str, str]) -> Any:
    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    async with user.client.post("/api/v1/ecgs", data=form, headers=user.headers) as r:
        return r.status, await r.json()


async def _refused(user: ApiUser, other: ApiUser, bomb: Bomb, fields: dict[str, str]) -> None:
    """Upload ``bomb`` while ``other`` asks for its work list; check the refusal and its cost."""
    data = bomb.make()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    (status, body), served = await asyncio.gather(
        _post(user, data, bomb.filename, {**dict(bomb.fields), **fields}),
        other.get("/api/v1/requests"),
    )
    elapsed = time.perf_counter() - start
    peak_mb = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    tracemalloc.stop()
    assert status == bomb.status, body
    message = body["error"]["message"]
    assert all(word in message for word in bomb.words), message
    assert message.index("/") > 0 and any("\u4e00" <= c <= "\u9fff" for c in message[:40]), message
    assert served.status == 200
    assert elapsed < 15, elapsed
    assert peak_mb < bomb.peak_mb + len(data) * 6 / 2**20, (peak_mb, len(data))


def _stored_files(settings: Settings) -> list[Path]:
    return [p for p in (settings.data_dir / "ecg").rglob("*") if p.is_file()]


@pytest.mark.parametrize("case", sorted(BOMBS))
async def test_a_bomb_is_refused_before_decoding_and_nothing_stored(
    api: Api, settings: Settings, case: str
) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village)
    bomb = BOMBS[case]
    await _refused(village, reader, bomb, {"patient_id": str(patient["id"])})
    # the same file for a patient nobody knows would be held: it is refused before that, too
    await _refused(village, reader, bomb, {"record_number": "NOBODY-19"})
    assert (await village.get(f"/api/v1/requests?patient_id={patient['id']}")).ok() == []
    assert (await reader.get("/api/v1/ecgs/reconciliation")).ok() == []
    assert _stored_files(settings) == []


async def test_a_deflated_dicom_within_the_bound_is_still_read(api: Api) -> None:
    path = get_testdata_file("waveform_ecg.dcm")
    if path is None:
        pytest.skip("pydicom test file waveform_ecg.dcm not available")
    ds = pydicom.dcmread(str(path))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    village = await api.login("dr-village")
    patient = await new_patient(village)
    status, body = await _post(
        village, out.getvalue(), "ok.dcm", {"patient_id": str(patient["id"])}
    )
    assert status == 201 and body["ecg"]["format"] == "dicom", body
    assert len(body["ecg"]["leads"]) == 12 and body["ecg"]["duration_s"] == 10.0, body


def test_a_loose_wfdb_signal_file_is_sized_before_it_is_read(tmp_path: Path) -> None:
    from ecg.readers import ReadLimits, read_wfdb_record

    (tmp_path / "r.hea").write_text("r 1 1000\nr.dat 16 200 16 0 0 0 0 I\n")
    with (tmp_path / "r.dat").open("wb") as dat:
        dat.truncate(64 << 20)  # sparse: 64 MiB on paper, nothing on disk
    tracemalloc.start()
    with pytest.raises(EcgTooLarge, match="MiB"):
        read_wfdb_record(tmp_path / "r", ReadLimits(max_bytes=LIMIT_MB << 20))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20, peak
